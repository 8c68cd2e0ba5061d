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
			// yaml names Go types ("!!map into []bench.ModelSpec") and
			// no key: say which key holds what instead.
			var doc yaml.Node
			if yaml.Unmarshal(b, &doc) == nil {
				if m := yamlTypeError(&doc); m != "" {
					msg = m
				}
			}
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
	// yaml decodes 1.5 into an int field as 1: whole-number keys must be
	// written as integers.
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) == nil {
		if m := yamlTypeError(&doc); m != "" {
			return nil, fmt.Errorf("%s: %s", path, m)
		}
	}
	switch {
	case len(rf.Models) == 0 || len(rf.Tasks) == 0:
		return nil, fmt.Errorf("%s: needs at least one entry under \"models\" and one under \"tasks\"", path)
	case rf.BatchSize < 0:
		return nil, fmt.Errorf("%s: batch_size = %d, want a positive number (or none for the default)", path, rf.BatchSize)
	case rf.Limit < 0:
		return nil, fmt.Errorf("%s: limit = %d, want a number of items (0 or none = all)", path, rf.Limit)
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

// yamlTypeError finds the first value of a run.yaml whose YAML type is
// not what its key takes, walking the document against RunFile's fields,
// and says so in the file's words: its line, the key path (models[1].extra)
// and what the key takes, e.g. `line 2: batch_size: want a whole number,
// found "sixteen"`. It is "" when every value has the right type.
func yamlTypeError(doc *yaml.Node) string {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	budget := 100000 // nodes visited: aliases may repeat a subtree many times
	return walkYAML(root, reflect.TypeOf(RunFile{}), "", &budget)
}

func walkYAML(n *yaml.Node, t reflect.Type, path string, budget *int) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if *budget--; *budget < 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return "" // null leaves the default
	}
	bad := func() string {
		key := path
		if key == "" {
			key = "the document"
		}
		return fmt.Sprintf("line %d: %s: want %s, found %s", n.Line, key, yamlWant(t), yamlFound(n))
	}
	at := func(key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad()
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if isMergeKey(n.Content[i]) {
				if msg := walkMerge(n.Content[i+1], t, path, budget); msg != "" {
					return msg
				}
				continue
			}
			for j := range t.NumField() {
				if k, _, _ := strings.Cut(t.Field(j).Tag.Get("yaml"), ","); k == key {
					if msg := walkYAML(n.Content[i+1], t.Field(j).Type, at(key), budget); msg != "" {
						return msg
					}
				}
			} // an unknown key is the decoder's KnownFields error
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad()
		}
		for i, e := range n.Content {
			if msg := walkYAML(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), budget); msg != "" {
				return msg
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return bad()
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if isMergeKey(n.Content[i]) {
				if msg := walkMerge(n.Content[i+1], t, path, budget); msg != "" {
					return msg
				}
				continue
			}
			if msg := walkYAML(n.Content[i+1], t.Elem(), at(n.Content[i].Value), budget); msg != "" {
				return msg
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return bad()
		}
	case reflect.Int, reflect.Int64:
		var v int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
			return bad()
		}
	}
	return ""
}

// isMergeKey reports YAML's merge key "<<", whose value (a mapping or a
// list of them, usually aliases) is merged into the mapping holding it.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && (k.Tag == "!!merge" || k.Value == "<<" && k.Style == 0)
}

// walkMerge checks the mappings a merge key brings in as parts of the
// mapping at path (of type t).
func walkMerge(v *yaml.Node, t reflect.Type, path string, budget *int) string {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			if msg := walkYAML(e, t, path, budget); msg != "" {
				return msg
			}
		}
		return ""
	}
	return walkYAML(v, t, path, budget)
}

// yamlWant says what a run.yaml value of Go type t is, in the file's terms.
func yamlWant(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(RunFile{}):
		return "a mapping with keys " + strings.Join(yamlKeys(RunFile{}), ", ")
	case reflect.TypeOf([]bench.ModelSpec{}):
		return `a list of model entries ("- {name: NAME, kind: KIND, path: DIR}")`
	case reflect.TypeOf(bench.ModelSpec{}):
		return "a model entry {" + strings.Join(yamlKeys(bench.ModelSpec{}), ", ") + "}"
	case reflect.TypeOf([]RunTask{}):
		return `a list of task entries ("- {name: TASK, data: DIR}")`
	case reflect.TypeOf(RunTask{}):
		return "a task entry {" + strings.Join(yamlKeys(RunTask{}), ", ") + "}"
	case reflect.TypeOf(map[string]string{}):
		return "a mapping of option: value (e.g. {rule: vlmevalkit})"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.String:
		return "a single value (text or number)"
	}
	return t.String()
}

// yamlFound describes a YAML node for yamlWant's "found".
func yamlFound(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return fmt.Sprintf("the quoted text %q (quoted, it is text)", n.Value)
	}
	return fmt.Sprintf("%q", n.Value)
}

type runCmd struct {
	Config    string    `help:"YAML file listing models and tasks (see --help)." placeholder:"FILE" xor:"src"`
	Task      string    `help:"One task name (with --model-kind/--model and --data)." xor:"src"`
	Data      string    `help:"Data root for --task." placeholder:"DIR"`
	Opt       keyValues `placeholder:"KEY=VALUE" help:"Task option key=value (repeatable), e.g. --opt rule=vlmevalkit; evalrun tasks lists each task's options."`
	ModelKind string    `help:"Model kind for --task (siglip, dualtoken, llava; see --help)." placeholder:"KIND"`
	Model     string    `help:"Model checkpoint folder for --task, or a Hub repo id (org/name) that the local Hugging Face cache holds." placeholder:"DIR"`
	Tokenizer string    `help:"Tokenizer for --task's model." placeholder:"PATH"`
	Out       string    `default:"results" help:"Output root: OUT/<task>/<model>/{predictions-*.jsonl,results.json,samples.jsonl}."`
	Batch     int       `default:"8" help:"Batch size."`
	Limit     *int      `help:"Only the first N items of each task; 0 = all (either overrides the config's limit)." placeholder:"N"`
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

Examples:
  evalrun run --config run.yaml
  evalrun run --task pope --data /data/pope --model-kind llava --model ckpt/llava --limit 100
  evalrun run --task imagenet-zeroshot --data demo-out/data/imagenet-zeroshot \
      --model-kind siglip --model demo-out/models/tiny-siglip --out results

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
		if kinds := bench.ModelKinds(); !slices.Contains(kinds, c.ModelKind) {
			return usageErr("--model-kind %s: unknown kind (known: %s)", c.ModelKind, strings.Join(kinds, ", "))
		}
		rf.Models = []bench.ModelSpec{{Name: modelName(c.Model), Kind: c.ModelKind, Path: c.Model, Tokenizer: c.Tokenizer}}
		rf.Tasks = append(rf.Tasks, RunTask{c.Task, c.Data, c.Opt})
	default:
		return usageErr("give --config FILE or --task NAME (see evalrun run --help)")
	}
	outFrom := "--out " + c.Out // says where the output root came from
	if rf.Out == "" {
		rf.Out = c.Out
	} else {
		outFrom = c.Config + ": out " + rf.Out
	}
	if c.Batch <= 0 {
		return usageErr("--batch %d: want a positive batch size", c.Batch)
	}
	if rf.BatchSize == 0 {
		rf.BatchSize = c.Batch
	}
	if c.Limit != nil {
		if *c.Limit < 0 {
			return usageErr("--limit %d: want a number of items (0 = all)", *c.Limit)
		}
		rf.Limit = *c.Limit
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
		rf.Models[i].Path = hubOrPath(rf.Models[i].Path)
		ms := rf.Models[i]
		st, err := os.Stat(ms.Path)
		if err == nil && !st.IsDir() && filepath.Ext(ms.Path) != ".json" {
			// Every kind reads a folder (llava also its config.json):
			// an image or a weights file would fail as "not valid JSON".
			if c.Config == "" {
				return usageErr("--model %s: a file, but a %s model is %s", ms.Path, ms.Kind, modelPathWant(ms.Kind))
			}
			return usageErr("%s: models[%d] (%s): path %s: a file, but a %s model is %s", where, i, ms.Name, ms.Path, ms.Kind, modelPathWant(ms.Kind))
		}
		if err != nil {
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
	// Which pairs can run, by each kind's declared capabilities: a --task
	// its --model-kind cannot run, or a config where no pair can, is a
	// usage error before any model loads. (A kind that declared none is
	// tried: loading it tells.)
	runs := make([][]bool, len(rf.Models))
	anyRuns := false
	for i, ms := range rf.Models {
		runs[i] = make([]bool, len(tasks))
		for j, task := range tasks {
			can, known := bench.KindCanRun(task, ms.Kind)
			runs[i][j] = can || !known
			anyRuns = anyRuns || runs[i][j]
		}
	}
	if c.Config == "" && !runs[0][0] {
		return usageErr("--task %s needs %s; --model-kind %s is %s: %s", c.Task, needsPhrase(tasks[0].Needs()), c.ModelKind, kindIs(c.ModelKind), useKinds(tasks[0].Needs()))
	}
	if !anyRuns {
		var needs, have []string
		for _, t := range tasks {
			needs = append(needs, fmt.Sprintf("%s needs %s %s (kinds: %s)", t.Name(), strings.Fields(needsPhrase(t.Needs()))[0], t.Needs(), strings.Join(bench.KindsWith(t.Needs()), ", ")))
		}
		for _, ms := range rf.Models {
			have = append(have, fmt.Sprintf("%s (%s) is %s", ms.Name, ms.Kind, kindIs(ms.Kind)))
		}
		return usageErr("%s: no model can run any task: %s; but %s", c.Config, strings.Join(needs, ", "), strings.Join(have, ", "))
	}
	if err := os.MkdirAll(rf.Out, 0o755); err != nil {
		return usageErr("%s: %v", outFrom, err)
	}
	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	defer func() {
		if s := backend.CacheSummary(b); s != "" && !c.Quiet {
			fmt.Fprintln(os.Stderr, "evalrun: "+s)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for i, ms := range rf.Models {
		if !slices.Contains(runs[i], true) {
			for j, ts := range rf.Tasks {
				fmt.Fprintf(os.Stderr, "evalrun: skip %s on %s: %s\n", ts.Name, ms.Name, cannotRun(tasks[j], ms.Kind))
			}
			continue // not loaded: it runs nothing
		}
		m, err := loadModel(ctx, ms, b)
		if err != nil {
			if c.Config == "" {
				return usageErr("--model-kind %s --model %s: %v", ms.Kind, ms.Path, err)
			}
			return usageErr("%s: models[%d] (%s): %v", where, i, ms.Name, err)
		}
		for j, ts := range rf.Tasks {
			task := tasks[j]
			if !runs[i][j] || !bench.CanRun(task, m) {
				fmt.Fprintf(os.Stderr, "evalrun: skip %s on %s: %s\n", ts.Name, ms.Name, cannotRun(task, ms.Kind))
				continue
			}
			cfg := bench.RunConfig{OutDir: rf.Out, BatchSize: rf.BatchSize, Limit: rf.Limit, Seed: rf.Seed, GitCommit: gitCommit(), Backend: backend.Resolve(g.Backend), Subset: subset}
			if !c.Quiet {
				cfg.Progress = progressOut() // one per task: its own log-line pacing
			}
			res, err := runPair(ctx, task, m, cfg)
			if err != nil {
				return usageErr("%v", err)
			}
			printResult(res)
			submissionNotice(task, filepath.Join(bench.RunDir(cfg, task, m.Info()), "results.json"))
		}
	}
	return nil
}

// runPair is bench.Run that also says on stderr, in one line, when items
// failed (each is recorded in the predictions file and counted in
// results.json's n_samples.failed; the exit code stays 0: a failed item is
// not a failed check), even with --quiet.
func runPair(ctx context.Context, task bench.Task, m bench.Model, cfg bench.RunConfig) (*bench.Result, error) {
	var failed []bench.Record
	cfg.Failed = func(f []bench.Record) { failed = f }
	res, err := bench.Run(ctx, task, m, cfg)
	if err != nil || len(failed) == 0 {
		return res, err
	}
	reason := strings.Join(strings.Fields(failed[0].Error), " ")
	if r := []rune(reason); len(r) > 300 {
		reason = string(r[:300]) + "…"
	}
	fmt.Fprintf(os.Stderr, "evalrun: %s/%s: %d of %d items failed (first: %s: %s); see %s\n",
		res.Task, res.Model.Name, len(failed), res.NSamples.Total, failed[0].ID, reason,
		filepath.Join(bench.RunDir(cfg, task, res.Model), res.Predictions))
	return res, nil
}

// capabilityWords says what a model with each capability does.
var capabilityWords = map[string]string{
	bench.NeedsEmbedder:      "an embedder (a model that embeds images and texts)",
	bench.NeedsAnswerer:      "an answerer (a model that answers questions about images)",
	bench.NeedsReconstructor: "a reconstructor (a model that encodes and decodes images)",
}

func needsPhrase(need string) string {
	if w, ok := capabilityWords[need]; ok {
		return w
	}
	return fmt.Sprintf("a model of capability %q", need)
}

// kindIs says what kind's models are: "an embedder only", "an embedder and
// a reconstructor".
func kindIs(kind string) string {
	caps, ok := bench.KindCapabilities(kind)
	if !ok || len(caps) == 0 {
		return "of no declared capability"
	}
	for i, c := range caps {
		caps[i] = strings.Fields(needsPhrase(c))[0] + " " + c
	}
	if len(caps) == 1 {
		return caps[0] + " only"
	}
	return strings.Join(caps[:len(caps)-1], ", ") + " and " + caps[len(caps)-1]
}

// useKinds says which --model-kind can run a task needing need.
func useKinds(need string) string {
	switch kinds := bench.KindsWith(need); len(kinds) {
	case 0:
		return "no model kind can"
	case 1:
		return "use --model-kind " + kinds[0]
	default:
		return "use --model-kind " + strings.Join(kinds[:len(kinds)-1], ", ") + " or " + kinds[len(kinds)-1]
	}
}

// cannotRun is the note for a (task, model) pair run skips.
func cannotRun(task bench.Task, kind string) string {
	return fmt.Sprintf("the task needs %s and kind %s is %s", needsPhrase(task.Needs()), kind, kindIs(kind))
}

// modelPathWant says what --model (a model's path) is for kind.
func modelPathWant(kind string) string {
	switch kind {
	case "siglip":
		return "an HF SigLIP or SigLIP2 folder (config.json, model.safetensors, spiece.model, tokenizer.model or tokenizer.json)"
	case "dualtoken":
		return "a DualToken tokenizer folder (config.json, model.safetensors, spiece.model, tokenizer.model or tokenizer.json)"
	case "llava":
		return "a LLaVA folder (config.json naming the vision tower, projector and language model) or that config.json"
	}
	return "a model folder (config.json and its weights)"
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

// modelName names a --model's results folder after its last path element
// (of the absolute path, so that "." and ".." name the folder itself).
func modelName(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if name := filepath.Base(path); name != "/" && name != "." {
		return name
	}
	return "model"
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
