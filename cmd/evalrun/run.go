package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"gopkg.in/yaml.v3"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/model/precision"
)

func init() {
	register("run", "Run benchmark tasks on models (resumable; writes predictions and results.json).", &runCmd{})
}

// RunFile is the YAML of `evalrun run --config`.
type RunFile struct {
	Out       string            `yaml:"out"`
	BatchSize int               `yaml:"batch_size"`
	Limit     int               `yaml:"limit"`
	Seed      int64             `yaml:"seed"`
	Models    []bench.ModelSpec `yaml:"models"`
	Tasks     []RunTask         `yaml:"tasks"`
}

// RunTask is one entry of a RunFile's tasks.
type RunTask struct {
	Name  string            `yaml:"name"`
	Data  string            `yaml:"data"`
	Extra map[string]string `yaml:"extra"`
}

// parseRunFile reads a run.yaml and checks it before anything runs, so that
// a typo in the last entry does not fail hours in: unknown keys (a
// misspelt "batch_size" would silently be the default), a second YAML
// document, negative sizes, a model without name, kind or path or of an
// unknown kind, a model name that is no folder name, an unknown task, and
// two entries that would write the same OUT/<task>/<model>/results.json.
// Errors are one line naming the file and the entry.
func parseRunFile(path string, b []byte) (*RunFile, error) {
	var rf RunFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%s: empty; needs at least one entry under \"models\" and one under \"tasks\"", path)
		}
		msg := err.Error()
		if te, ok := err.(*yaml.TypeError); ok {
			msg = strings.Join(te.Errors, "; ")
		}
		// yaml names our Go types; say which keys the entry takes instead.
		msg = strings.NewReplacer(
			"not found in type main.RunFile", "is not a key of run.yaml (keys: out, batch_size, limit, seed, models, tasks)",
			"not found in type main.RunTask", "is not a key of a task entry (keys: name, data, extra)",
			"not found in type bench.ModelSpec", "is not a key of a model entry (keys: "+strings.Join(yamlKeys(bench.ModelSpec{}), ", ")+")",
		).Replace(msg)
		// One line: yaml quotes the offending text as it is.
		return nil, fmt.Errorf("%s: %s", path, strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(msg))
	}
	var more yaml.Node
	if err := dec.Decode(&more); err != io.EOF {
		return nil, fmt.Errorf("%s: more than one YAML document (\"---\"): put every model and task in one", path)
	}
	switch {
	case len(rf.Models) == 0 || len(rf.Tasks) == 0:
		return nil, fmt.Errorf("%s: needs at least one entry under \"models\" and one under \"tasks\"", path)
	case rf.BatchSize < 0:
		return nil, fmt.Errorf("%s: batch_size = %d, want a positive number (or none for the default)", path, rf.BatchSize)
	case rf.Limit < 0:
		return nil, fmt.Errorf("%s: limit = %d, want a positive number of items (or none for all)", path, rf.Limit)
	}
	kinds := bench.ModelKinds()
	models := map[string]int{}
	for i, m := range rf.Models {
		at := fmt.Sprintf("%s: models[%d]", path, i)
		switch {
		case m.Name == "":
			return nil, fmt.Errorf("%s: field \"name\" is missing (it names the results folder OUT/<task>/<name>/)", at)
		case m.Name == "." || m.Name == ".." || strings.ContainsAny(m.Name, `/\`) || strings.ContainsRune(m.Name, 0):
			return nil, fmt.Errorf("%s: name %q cannot name a folder (OUT/<task>/<name>/): want no slash, not . or ..", at, m.Name)
		case m.Kind == "":
			return nil, fmt.Errorf("%s (%s): field \"kind\" is missing (want one of %s)", at, m.Name, strings.Join(kinds, ", "))
		case !slices.Contains(kinds, m.Kind):
			return nil, fmt.Errorf("%s (%s): kind %q is unknown (want one of %s)", at, m.Name, m.Kind, strings.Join(kinds, ", "))
		case m.Path == "":
			return nil, fmt.Errorf("%s (%s): field \"path\" is missing", at, m.Name)
		}
		if j, dup := models[m.Name]; dup {
			return nil, fmt.Errorf("%s: name %q is also models[%d]'s: both would write OUT/<task>/%s/results.json", at, m.Name, j, m.Name)
		}
		models[m.Name] = i
	}
	tasks := map[string]int{}
	for i, t := range rf.Tasks {
		at := fmt.Sprintf("%s: tasks[%d]", path, i)
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("%s: field \"name\" is missing (want one of %s)", at, strings.Join(bench.Names(), ", "))
		case !slices.Contains(bench.Names(), t.Name):
			return nil, fmt.Errorf("%s: task %q is unknown (want one of %s)", at, t.Name, strings.Join(bench.Names(), ", "))
		}
		if j, dup := tasks[t.Name]; dup {
			return nil, fmt.Errorf("%s: task %q is also tasks[%d]: both would write OUT/%s/<model>/results.json (use two config files with different \"out\")", at, t.Name, j, t.Name)
		}
		tasks[t.Name] = i
	}
	return &rf, nil
}

type runCmd struct {
	Config    string    `help:"YAML file listing models and tasks (see --help)." placeholder:"FILE" xor:"src"`
	Task      string    `help:"One task name (with --model-kind/--model and --data)." xor:"src"`
	Data      string    `help:"Data root for --task." placeholder:"DIR"`
	Opt       keyValues `placeholder:"KEY=VALUE" help:"Task option key=value (repeatable), e.g. --opt rule=vlmevalkit; evalrun tasks lists each task's options."`
	ModelKind string    `help:"Model kind for --task (siglip, dualtoken, llava; see --help)." placeholder:"KIND"`
	Model     string    `help:"Model checkpoint for --task." placeholder:"DIR"`
	Tokenizer string    `help:"Tokenizer for --task's model." placeholder:"PATH"`
	Out       string    `default:"results" help:"Output root: OUT/<task>/<model>/{predictions-*.jsonl,results.json,samples.jsonl}."`
	Batch     int       `default:"8" help:"Batch size."`
	Limit     int       `help:"Only the first N items of each task."`
	Subset    string    `help:"File of item IDs (one per line, as in predictions/samples files) to run instead of all items (kept beside results.json; score reuses it)." placeholder:"FILE"`
	DType     string    `name:"dtype" help:"Compute dtype of every model without its own \"dtype\" in the config: float32 (default) or bfloat16 (for GPUs; predictions are cached per dtype)."`
	Quiet     bool      `help:"No progress bars."`
}

// yamlKeys lists the yaml keys of a struct's fields.
func yamlKeys(v any) []string {
	var keys []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

func (c *runCmd) Help() string {
	return `Runs every (model, task) pair. Predictions are cached per item in JSONL keyed by
model identity + dtype + task version + protocol, so an interrupted run resumes where it
stopped and 'evalrun score' can re-score without the model.

Config file example (run.yaml):
  out: results
  batch_size: 16
  models:
    - {name: dualtoken-so400m, kind: dualtoken, path: ckpt/dualtoken-so400m}
    - {name: dualtoken-so400m-bf16, kind: dualtoken, path: ckpt/dualtoken-so400m, dtype: bfloat16}
  tasks:
    - {name: imagenet-zeroshot, data: /data/imagenet}
    - {name: recon, data: /data/imagenet, extra: {inception: weights/pt_inception-2015-12-05-6726825d.pth, fid_mode: clean}}

Tasks: ` + strings.Join(bench.Names(), ", ") + `.

Task options (extra: / --opt): evalrun tasks NAME.

Model kinds: ` + strings.Join(bench.ModelKinds(), ", ") + `.`
}

func (c *runCmd) Run(g *Globals) error {
	var rf RunFile
	switch {
	case c.Config != "":
		// The config holds every model and task: flags that describe one
		// would be silently ignored.
		for _, f := range []struct{ name, value string }{{"--data", c.Data}, {"--model", c.Model}, {"--model-kind", c.ModelKind}, {"--tokenizer", c.Tokenizer}} {
			if f.value != "" {
				return usageErr("%s goes with --task; with --config put it in %s", f.name, c.Config)
			}
		}
		if len(c.Opt) > 0 {
			return usageErr("--opt goes with --task; with --config put task options under a task's extra: in %s", c.Config)
		}
		b, err := os.ReadFile(c.Config)
		if err != nil {
			return usageErr("%v", err)
		}
		parsed, err := parseRunFile(c.Config, b)
		if err != nil {
			return usageErr("%v", err)
		}
		rf = *parsed
	case c.Task != "":
		if c.ModelKind == "" || c.Model == "" {
			return usageErr("--task needs --model-kind and --model")
		}
		rf.Models = []bench.ModelSpec{{Name: modelName(c.Model), Kind: c.ModelKind, Path: c.Model, Tokenizer: c.Tokenizer}}
		rf.Tasks = append(rf.Tasks, RunTask{c.Task, c.Data, c.Opt})
	default:
		return usageErr("give --config FILE or --task NAME (see evalrun run --help)")
	}
	if rf.Out == "" {
		rf.Out = c.Out
	}
	if rf.BatchSize == 0 {
		if c.Batch <= 0 {
			return usageErr("--batch %d: want a positive batch size", c.Batch)
		}
		rf.BatchSize = c.Batch
	}
	switch {
	case c.Limit < 0:
		return usageErr("--limit %d: want a positive number of items (or none for all)", c.Limit)
	case c.Limit > 0:
		rf.Limit = c.Limit
	}
	var subset []string
	if c.Subset != "" {
		// Item IDs belong to one task (each task numbers its own).
		if len(rf.Tasks) > 1 {
			return usageErr("--subset selects items of one task, but %s lists %d tasks: run them one at a time", c.Config, len(rf.Tasks))
		}
		var err error
		if subset, err = bench.ReadSubsetFile(c.Subset); err != nil {
			return usageErr("--subset: %v", err)
		}
	}
	// Everything that can be checked without a model is checked before
	// the first model runs: task options, data files and model paths.
	where := "--task"
	if c.Config != "" {
		where = c.Config
	}
	tasks := make([]bench.Task, len(rf.Tasks))
	for i, ts := range rf.Tasks {
		// Task errors start with the task's name; the config's entry
		// replaces it.
		fail := func(err error) error {
			if c.Config == "" {
				return usageErr("%v", err)
			}
			return usageErr("%s: tasks[%d] (%s): %s", where, i, ts.Name, strings.TrimPrefix(err.Error(), ts.Name+": "))
		}
		task, err := bench.New(ts.Name, bench.Options{Data: ts.Data, Extra: ts.Extra})
		if err != nil {
			return fail(err)
		}
		if err := bench.CheckSelection(task, bench.Selection{Subset: subset, Limit: rf.Limit}); err != nil {
			if subset != nil {
				return usageErr("--subset %s: %v", c.Subset, err)
			}
			return fail(err)
		}
		tasks[i] = task
	}
	if c.DType != "" {
		if _, err := precision.Parse(c.DType); err != nil {
			return usageErr("%v", err)
		}
	}
	for i := range rf.Models {
		if rf.Models[i].DType == "" {
			rf.Models[i].DType = c.DType // before the check, which covers the dtype
		}
		ms := rf.Models[i]
		if _, err := os.Stat(ms.Path); err != nil {
			if c.Config == "" {
				return usageErr("--model: %v", err)
			}
			return usageErr("%s: models[%d] (%s): path: %v", where, i, ms.Name, err)
		}
		if ms.Tokenizer != "" {
			if _, err := os.Stat(ms.Tokenizer); err != nil {
				if c.Config == "" {
					return usageErr("--tokenizer: %v", err)
				}
				return usageErr("%s: models[%d] (%s): tokenizer: %v", where, i, ms.Name, err)
			}
		}
		if err := bench.CheckModelOptions(ms); err != nil {
			return usageErr("%s: models[%d] (%s): %v", where, i, ms.Name, err)
		}
	}
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for i, ms := range rf.Models {
		m, err := loadModel(ctx, ms, b)
		if err != nil {
			if c.Config == "" {
				return usageErr("%v", err)
			}
			return usageErr("%s: models[%d] (%s): %v", where, i, ms.Name, err)
		}
		for j, ts := range rf.Tasks {
			task := tasks[j]
			if !bench.CanRun(task, m) {
				fmt.Fprintf(os.Stderr, "skip %s on %s: the task needs a model of capability %q\n", ts.Name, ms.Name, task.Needs())
				continue
			}
			cfg := bench.RunConfig{OutDir: rf.Out, BatchSize: rf.BatchSize, Limit: rf.Limit, Seed: rf.Seed, GitCommit: gitCommit(), Backend: backend.Resolve(g.Backend), Subset: subset}
			if !c.Quiet {
				cfg.Progress = progressOut() // one per task: its own log-line pacing
			}
			res, err := bench.Run(ctx, task, m, cfg)
			if err != nil {
				return usageErr("%v", err)
			}
			printResult(res)
			submissionNotice(task, filepath.Join(bench.RunDir(cfg, task, m.Info()), "results.json"))
		}
	}
	return nil
}

// loadModel builds ms. Loading a large checkpoint (hashing every shard,
// reading the weights) checks no context, so a Ctrl-C meanwhile ends the
// process at once, with the usual line: nothing of this model is saved yet.
func loadModel(ctx context.Context, ms bench.ModelSpec, b compute.Backend) (bench.Model, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			// ctx also ends when the command returns (its signal handler
			// is stopped); by then done is closed: only a Ctrl-C during
			// the load gets here with done still open.
			select {
			case <-done:
				return
			default:
			}
			os.Exit(interrupted("interrupted while loading model " + ms.Name + "; the results of earlier models are saved: the same command resumes"))
		case <-done:
		}
	}()
	return bench.NewModel(ms, b)
}

func modelName(path string) string {
	path = strings.TrimRight(path, "/")
	if i := strings.LastIndex(path, "/"); i >= 0 {
		return path[i+1:]
	}
	return path
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func printResult(r *bench.Result) {
	fmt.Printf("%s / %s (n=%d, failed=%d):", r.Task, r.Model.Name, r.NSamples.Total, r.NSamples.Failed)
	for _, k := range sortedKeys(r.Metrics) {
		fmt.Printf(" %s=%.4g", k, r.Metrics[k])
	}
	fmt.Println()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
