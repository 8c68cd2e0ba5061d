// Package train is the repo's generic training loop for GoMLX models: one
// compiled step (loss → gradients → optional global-norm clipping → GoMLX's
// Adam with decoupled, masked weight decay → warmup + cosine learning rate
// from GoMLX's cosineschedule), deterministic data by step number, exact
// checkpoint/resume, and per-step results for progress bars and logs.
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
//		ClipGradNorm: 1, Dir: "out/checkpoint", CheckpointEvery: 100,
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
// # Checkpoints
//
// A checkpoint is one file, Dir/checkpoint.safetensors, written atomically
// (temporary file, then rename): every variable of the store (model weights,
// Adam moments and step counter, the schedule's counter, the learning rate,
// the global step, the RNG state if the graph created one) under its store
// path, and in the safetensors metadata the [State] (steps done, config and
// task fingerprints, trainable flags, dtypes). It is not a model export:
// tasks write their own inference format (see train/tinysiglip for an HF
// SigLIP directory).
package train
