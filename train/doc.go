// Package train is the repo's generic training loop for GoMLX models: one
// compiled step (loss → gradients → optional global-norm clipping → GoMLX's
// Adam with decoupled, masked weight decay → warmup + cosine learning rate
// from GoMLX's cosineschedule), optional gradient accumulation across
// calls, deterministic data by step number, exact checkpoint/resume, and
// per-step results for progress bars and logs.
//
// # Using it
//
// A training run is a [Task] plus a [Config] over a model.Store that already
// holds the model's variables (random or loaded):
//
//	type Task interface {
//		// Batch returns step's inputs. It must be a pure function of the
//		// step number (and the task's own seed), so that a resumed run sees
//		// exactly the data an uninterrupted run would: the step IS the RNG
//		// position.
//		Batch(step int) ([]*tensors.Tensor, error)
//		// Loss builds the scalar loss from the batch (graph function; it may
//		// read and update store variables) and any named scalar metrics.
//		Loss(root *model.Scope, inputs []*graph.Node) (loss *graph.Node, metrics []*graph.Node)
//		// MetricNames names Loss's metrics, in order.
//		MetricNames() []string
//		// Fingerprint identifies everything that shapes the run besides
//		// Config (model sizes, data seed, batch size); a checkpoint written
//		// under another fingerprint is refused on resume.
//		Fingerprint() string
//	}
//
//	tr, err := train.New(backend, store, task, train.Config{
//		Steps: 1000, LearningRate: 1e-3, WarmupSteps: 50, WeightDecay: 1e-4,
//		ClipGradNorm: 1, AccumSteps: 1, Dir: "out/checkpoint", CheckpointEvery: 100,
//	})
//	resumed, err := tr.Resume()          // loads Dir's checkpoint if there is one
//	err = tr.Run(ctx, func(r train.Result) { bar.Describe(fmt.Sprintf("loss %.3f", r.Loss)) })
//
// [Trainer.Step] runs a single step; [Trainer.Save] writes a checkpoint at any
// time; [Trainer.Done] is the number of steps taken; [Trainer.Close] releases
// the compiled step (and waits for a batch being prefetched). Run checkpoints every
// CheckpointEvery steps, at the end, and when ctx is cancelled (then it
// returns ctx.Err() after saving), so an interrupted run restarted with the
// same command continues where it stopped and ends bit-identical to one that
// was never interrupted (on the same backend and machine).
//
// Two optional interfaces extend a Task: a [CallBatcher] chooses each
// graph call's data under gradient accumulation (CallBatch(step, call,
// calls)); a [StepHook] changes the store before each optimizer step
// (BeforeStep(step, store): DualTokenTask re-creates its discriminator and
// zeroes its optimizer state there). Both must be pure functions of the step
// number and the store, or resume is no longer exact.
//
// # What the step does
//
// Trainable variables are those marked Trainable and used by the loss graph.
// Weight decay is decoupled (AdamW: w -= lr·wd·w, applied to the value before
// the Adam step) and skips every variable for which Config.NoDecay returns
// true — by default all variables of rank ≤ 1 (biases, LayerNorm gains,
// scalars such as SigLIP's logit scale and bias). The learning rate rises
// linearly over WarmupSteps, then follows one cosine half-period to
// MinLearningRate at Steps. Gradients are clipped to global L2 norm
// ClipGradNorm when it is positive; the norm before clipping is reported.
//
// Config.Groups gives sets of trainable variables optimizers of their own,
// as a second torch optimizer and scheduler would ([Group]): Adam state and
// update counter under /<Name>, a learning rate rising linearly from 0 over
// WarmupSteps of the group's updates then a cosine to MinLR, no weight
// decay, outside the clipping and the reported gradient norm (the loop's
// GoMLX Adam steps the rest). Zeroing /<Name> restarts the group's
// optimizer and schedule; DualTokenTask's discriminator trains so.
//
// # Gradient accumulation
//
// With Config.AccumSteps = n > 1 one optimizer step is n calls of the
// compiled graph, each on its own batch (CallBatch(step, k, n), or
// Batch(step·n + k) for a task without it), so memory is that of one call.
// The first n−1 calls run the task's loss with its in-graph side effects
// (codebook EMA updates run on every call, as torch's forwards do) and add
// the unclipped gradients to non-trainable accumulators under /grad_accum
// (one per trainable variable, same shape and dtype); the last call adds its
// own, divides by n, then clips, applies Adam, decay and the schedule as
// above and zeroes the accumulators. Loss and metrics are the means over
// the calls, the gradient norm that of the averaged gradient; the schedule,
// Adam's counter and the global step advance once per optimizer step. The
// two graphs are told apart by a trailing scalar the trainer appends (int32
// on an accumulating call, int64 on the applying one) and removes before
// Task.Loss. For a loss that is a mean over examples with no side effects,
// n calls of B examples step exactly as one call of the n·B examples
// (TestAccumulationEqualsOneBigBatch).
//
// # DualToken tokenizer training
//
// [DualTokenTask] is one row of the paper's Table 3 ([Mode], [StudyOptions],
// [TrainRow] for `evalrun ablation`). Besides the loop's AccumSteps it can
// accumulate micro-batches inside one call (Accum). EpochSteps cuts the
// procedural stream into epochs that pace the discriminator as the authors'
// epoch loop does: created when the GAN starts, re-created (fresh weights,
// zero optimizer state) every DiscRestartEpochs epochs after its first, its
// loss weighted 1 in that first epoch and Weights.GAN (0.75) after
// ([DualTokenTask.DiscRestart], [DualTokenTask.DiscFactor]), stepped by its
// own Adam and scheduler ([DualTokenTask.DiscGroup]) in the study. Augment crops
// every training image with imageio.RandomResizedCrop (scale 0.9–1,
// bicubic, the authors' augmentation), seeded per image.
//
// # Checkpoints
//
// A checkpoint is one file, Dir/checkpoint.safetensors, written atomically
// (temporary file, then rename): every variable of the store (model weights,
// Adam moments and step counter, the schedule's counter, the learning rate,
// the global step, the RNG state if the graph created one) under its store
// path, and in the safetensors metadata the [State] (steps done, config and
// task fingerprints, trainable flags, dtypes). Steps are atomic, so
// checkpoints fall on optimizer-step boundaries, where the gradient
// accumulators are zero: they are not saved. AccumSteps is part of the
// config fingerprint (when > 1). It is not a model export:
// tasks write their own inference format (see train/tinysiglip for an HF
// SigLIP directory).
package train
