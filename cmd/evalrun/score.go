package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dualtoken/evalharness/bench"
)

func init() {
	register("score", "Re-score saved predictions without the model (writes results.json beside them).", &scoreCmd{})
}

type scoreCmd struct {
	Results string    `arg:"" help:"A results.json of an earlier run (its task, protocol and predictions file are reused)." placeholder:"RESULTS"`
	Data    string    `help:"Data root, if it moved since the run." placeholder:"DIR"`
	Opt     keyValues `placeholder:"KEY=VALUE" help:"Task option key=value overriding the recorded protocol (e.g. a scorer rule variant)."`
	Limit   int       `default:"-1" help:"Only the first N items; 0 = all (default: the run's own --limit, from results.json)." placeholder:"N"`
	Subset  string    `help:"File of item IDs to score instead (default: the run's own --subset, kept beside results.json)." placeholder:"FILE"`
	All     bool      `help:"Score every item of the task, whatever the run selected (each needs a saved prediction)."`
	// ExportSubmission is the one flag that also works on a split without
	// public answers: there it writes the file and skips scoring.
	ExportSubmission string `help:"Also write the task's submission file for an outside scorer (vqav2: EvalAI's JSON; mmbench: the server's .xlsx, or .tsv) from the saved predictions; on a split without public answers (VQAv2 test-dev2015, MMBench test) only that." placeholder:"FILE"`
}

func (c *scoreCmd) Help() string {
	return `Inference and scoring are joined by the prediction file: this re-reads it and
recomputes the metrics, e.g. after a scorer fix or to apply another scorer variant.

It scores the items the run covered (its --limit and --subset are recorded in
results.json), unless --limit, --subset or --all says otherwise; every item
scored needs a saved prediction.

Examples:
  evalrun score results/pope/tiny-llava/results.json --opt rule=vlmevalkit
  evalrun score results/vqav2/llava/results.json --export-submission vqav2-test-dev.json`
}

func (c *scoreCmd) Run(g *Globals) error {
	if st, err := os.Stat(c.Results); err == nil && st.IsDir() {
		c.Results = filepath.Join(c.Results, "results.json") // a run's folder
	}
	prev, err := bench.ReadResult(c.Results)
	if err != nil {
		return usageErr("%v", err)
	}
	// Only the task's declared options come back from the protocol; its
	// descriptive entries ("decoding", "ties") are not options.
	opts, err := bench.OptionsFromProtocol(prev.Task, prev.Protocol)
	if err != nil {
		return usageErr("%s: %v", c.Results, err)
	}
	opts.Rescore = true
	// With --data the data moved: recorded paths inside the old root (the
	// class names file, say) move with it.
	rebase := func(v string) string { return v }
	if c.Data != "" {
		oldRoot := opts.Data
		newRoot, err := filepath.Abs(c.Data)
		if err != nil {
			return usageErr("--data: %v", err)
		}
		rebase = func(v string) string {
			if rel, err := filepath.Rel(oldRoot, v); err == nil && oldRoot != "" && filepath.IsAbs(v) && filepath.IsLocal(rel) {
				return filepath.Join(newRoot, rel)
			}
			return v
		}
		for k, v := range opts.Extra {
			opts.Extra[k] = rebase(v)
		}
		opts.Data = newRoot
	}
	spec, _ := bench.Lookup(prev.Task)
	if prev.TaskVersion != spec.Version {
		// Another version predicts or scores differently (recon v2's PSNR):
		// its predictions cannot be scored by this one's rules.
		return usageErr("%s: task_version %d, but this evalrun has %s version %d: rerun the model (evalrun run), or score with the evalrun that wrote it", c.Results, prev.TaskVersion, prev.Task, spec.Version)
	}
	for _, k := range sortedKeys(c.Opt) {
		v := c.Opt[k]
		// An option that decides the predictions cannot change here: the
		// saved answers were made under the recorded value.
		if d, ok := spec.Option(k); ok && !d.Scoring && v != recordedOption(d, opts.Extra) {
			return usageErr("--opt %s=%s: %s decides the predictions, which were made with %s=%q: rerun the model (evalrun run); score changes only scoring options (%s)", k, v, k, k, recordedOption(d, opts.Extra), strings.Join(scoringKeys(spec), ", "))
		}
		opts.Extra[k] = v
	}
	if _, err := os.Stat(opts.Data); err != nil && opts.Data != "" && c.Data == "" {
		// The data moved (or, in results written before data roots were
		// recorded absolute, the run started in another folder).
		return usageErr("%s: the run's data %q: %v; pass --data DIR where it is now", c.Results, opts.Data, err)
	}
	task, err := bench.New(prev.Task, opts)
	if err != nil {
		return usageErr("%s: the task as recorded (protocol and --opt): %v", c.Results, err)
	}
	if err := sameInputs(spec, prev.Protocol, task.Protocol(), rebase); err != nil {
		return usageErr("%s: %v", c.Results, err)
	}
	if err := validScoring(spec, prev.Protocol, task.Protocol(), c.Opt); err != nil {
		return usageErr("%s: %v", c.Results, err)
	}
	if _, ok := task.(bench.Submitter); c.ExportSubmission != "" && !ok {
		return usageErr("task %s has no submission format", prev.Task)
	}
	if prev.Predictions == "" {
		return usageErr("%s: field \"predictions\" is missing", c.Results)
	}
	// The run's own selection unless told otherwise, so that a subset or
	// limited run re-scores over the items it predicted.
	sel := bench.Selection{Limit: prev.Run.Limit}
	subsetFile := prev.Run.Subset
	if subsetFile != "" {
		subsetFile = filepath.Join(filepath.Dir(c.Results), subsetFile)
	}
	switch {
	case c.All && (c.Subset != "" || c.Limit > 0):
		return usageErr("--all scores every item: it cannot go with --subset or --limit")
	case c.All:
		sel, subsetFile = bench.Selection{}, ""
	case c.Limit < -1:
		return usageErr("--limit %d: want a number of items (0 = all)", c.Limit)
	case c.Limit >= 0:
		sel.Limit = c.Limit
	}
	if c.Subset != "" {
		subsetFile = c.Subset
	}
	if subsetFile != "" {
		if sel.Subset, err = bench.ReadSubsetFile(subsetFile); err != nil {
			return usageErr("subset: %v", err)
		}
	}
	predPath := filepath.Join(filepath.Dir(c.Results), prev.Predictions)
	for _, keep := range []string{c.Results, predPath, subsetFile} {
		if c.ExportSubmission != "" && keep != "" && samePath(c.ExportSubmission, keep) {
			return usageErr("--export-submission %s is %s, which score reads or rewrites: give another file name", c.ExportSubmission, keep)
		}
	}
	if c.ExportSubmission != "" {
		if err := bench.ExportSubmission(task, predPath, sel, c.ExportSubmission, os.Stderr); err != nil {
			return usageErr("%v", err)
		}
		fmt.Printf("%s: submission written to %s\n", prev.Task, c.ExportSubmission)
		if bench.SubmissionOnly(task) {
			return nil // no public answers: Score would only say to submit
		}
	}
	res, err := bench.Rescore(task, predPath, sel)
	if err != nil {
		return usageErr("%v", err)
	}
	res.Model, res.Run, res.Predictions = prev.Model, prev.Run, prev.Predictions
	res.Run.Limit, res.Run.Subset = sel.Limit, ""
	if sel.Subset != nil {
		if res.Run.Subset, err = bench.KeepSubset(filepath.Dir(c.Results), sel.Subset); err != nil {
			return err
		}
	}
	if err := res.Write(c.Results); err != nil {
		return err
	}
	printResult(res)
	submissionNotice(task, c.Results)
	return nil
}

// submissionNotice says how to get the number of a split without public
// answers: results.json records only the share answered.
func submissionNotice(task bench.Task, results string) {
	if bench.SubmissionOnly(task) {
		fmt.Fprintf(os.Stderr, "%s: this split has no public answers; write the file its server scores with: evalrun score %s --export-submission FILE\n", task.Name(), results)
	}
}

// recordedOption is the value an option had in the run: as recorded, else
// its default.
func recordedOption(d bench.OptionDoc, recorded map[string]string) string {
	if v, ok := recorded[d.Key]; ok {
		return v
	}
	return d.Default
}

// scoringKeys lists the options score may change.
func scoringKeys(spec bench.Spec) []string {
	var keys []string
	for _, d := range spec.Options {
		if d.Scoring {
			keys = append(keys, d.Key)
		}
	}
	if len(keys) == 0 {
		return []string{"none for this task"}
	}
	return keys
}

// sameInputs refuses to re-score when anything but the data root's place
// and the scoring options differs between the run's protocol and the
// rebuilt task's: an edited class-name list (its recorded SHA-256), another
// prompt. The saved predictions were made under the recorded values.
// rebase moves a recorded path inside the old data root to the new one.
func sameInputs(spec bench.Spec, recorded, now map[string]any, rebase func(string) string) error {
	keys := map[string]bool{}
	for k := range recorded {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		if d, ok := spec.Option(k); k == "data" || ok && d.Scoring {
			continue
		}
		was := recorded[k]
		if v, ok := was.(string); ok {
			was = rebase(v)
		}
		if a, b := jsonOf(was), jsonOf(now[k]); a != b {
			return fmt.Errorf("protocol %s was %s when the predictions were made and is %s now: rerun the model (evalrun run)", k, a, b)
		}
	}
	return nil
}

// validScoring refuses a recorded scoring option that this evalrun does not
// take ("rule": "bogus"), which OptionsFromProtocol set aside, unless the
// rebuilt task records the same text (a description such as recon's
// "fid_mode": "not computed ..."). Keys given with --opt are the user's.
func validScoring(spec bench.Spec, recorded, now map[string]any, given map[string]string) error {
	for _, d := range spec.Options {
		v, ok := recorded[d.Key]
		if _, set := given[d.Key]; !ok || set || !d.Scoring {
			continue
		}
		s, isString := v.(string)
		if !isString {
			s = jsonOf(v) // a number or boolean as the option would read it
		}
		if err := d.Check(s); err != nil && jsonOf(v) != jsonOf(now[d.Key]) {
			return fmt.Errorf("protocol.%s is %s, which this evalrun does not take (%v): the file was edited or written by another version", d.Key, jsonOf(v), err)
		}
	}
	return nil
}

func jsonOf(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
