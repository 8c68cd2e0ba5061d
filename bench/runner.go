package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// RunConfig controls one (model, task) run.
type RunConfig struct {
	OutDir    string // results go to OutDir/<task>/<model>/
	BatchSize int
	Limit     int // first N items only (0 = all)
	// Subset keeps only the items whose IDs it lists (nil = all), e.g. a
	// fixed random sample for quick checks; applied before Limit.
	Subset    []string
	Seed      int64
	Progress  io.Writer // progress bar destination (nil = none)
	Log       io.Writer // notices, such as a torn cache line dropped (nil = os.Stderr)
	GitCommit string
	Backend   string // stamped into results (the model may not know it)
	DType     string
	// Failed, when set, is called once results.json is written with the
	// records of the run's items that failed (Record.Error set; counted in
	// NSamples.Failed), in item order; not called when none failed.
	Failed func(failed []Record)
}

// CacheKey fingerprints everything that determines a prediction: model
// identity (ModelInfo: config, checkpoint with every shard, tokenizer file
// and the options that decide predictions, such as preprocess and
// max_length), compute dtype (other than float32, so float32 keys stay as
// they were), task name/version and protocol. Fields ModelInfo leaves empty
// do not enter the key. Nothing that cannot change a prediction does
// either, so that changing it re-scores instead of recomputing: the task's
// scoring options (a scorer rule, the judge), and for a reconstruction task
// the model's text-side identity (tokenizer, max_length) and its
// preprocess option (the task crops to the model's input size itself).
func CacheKey(task Task, info ModelInfo) string {
	protocol := task.Protocol()
	if spec, ok := Lookup(task.Name()); ok {
		kept := make(map[string]any, len(protocol))
		for k, v := range protocol {
			if d, ok := spec.Option(k); !ok || !d.Scoring {
				kept[k] = v
			}
		}
		protocol = kept
	}
	if task.Needs() == NeedsReconstructor {
		info.TokenizerSHA256, info.Options = "", nil
	}
	k := map[string]any{"model": info, "task": task.Name(), "version": task.Version(), "protocol": protocol}
	if info.DType != "" && info.DType != "float32" {
		k["dtype"] = info.DType
	}
	b, _ := json.Marshal(k)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:16]
}

// RunDir is where a run's files live.
func RunDir(cfg RunConfig, task Task, info ModelInfo) string {
	name := info.Name
	if name == "" {
		name = "model"
	}
	return filepath.Join(cfg.OutDir, task.Name(), filepath.Base(name))
}

// dryName is the model name a run on the dry XLA backend (xladry:
// programs built, nothing computed) goes by: "<name>@xladry", so that its
// stand-in predictions and results — their folder, cache key, and the rows
// of reports and checks — are never taken for the real model's.
func dryName(cfg RunConfig, name string) string {
	if strings.HasPrefix(cfg.Backend, "xladry") && !strings.HasSuffix(name, "@xladry") {
		if name == "" {
			name = "model"
		}
		return name + "@xladry"
	}
	return name
}

// PredictionsPath is the JSONL cache for (task, model, protocol).
func PredictionsPath(cfg RunConfig, task Task, info ModelInfo) string {
	return filepath.Join(RunDir(cfg, task, info), "predictions-"+CacheKey(task, info)+".jsonl")
}

// LoadRecords reads a predictions JSONL file (missing file = none). A last
// line that is not complete JSON — a run killed mid-write — is left out, so
// its item counts as not predicted. Any other bad line is an error naming
// file and line: not a JSON record, an empty "id", neither "pred" nor
// "error", or an id whose record differs from an earlier one (two runs
// writing one cache). Blank lines are skipped; a repeated identical record
// is read once.
func LoadRecords(path string) (map[string]Record, error) {
	recs, _, err := loadRecords(path)
	return recs, err
}

// cacheTail says how a predictions file ends: torn >= 0 is the offset of a
// last line cut short (to truncate before appending), noNewline that the
// last, complete, record lacks its newline (to add before appending).
type cacheTail struct {
	torn      int64
	tornLen   int
	noNewline bool
}

func loadRecords(path string) (map[string]Record, cacheTail, error) {
	tail := cacheTail{torn: -1}
	out := map[string]Record{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out, tail, nil
	}
	if err != nil {
		return nil, tail, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	firstLine := map[string]int{}
	var off int64
	// A line is handled once the next is read: only the last may be torn.
	var pending []byte
	var pendingOff int64
	line := 0
	handle := func(b []byte, at int64, last bool) error {
		line++
		text := bytes.TrimSpace(b)
		if len(text) == 0 {
			return nil
		}
		if last && !json.Valid(text) {
			tail.torn, tail.tornLen = at, len(b)
			return nil
		}
		var rec Record
		if err := json.Unmarshal(text, &rec); err != nil {
			return fmt.Errorf("%s:%d: not a prediction record (want {\"id\": ..., \"pred\" or \"error\": ...}): %v", path, line, err)
		}
		switch {
		case rec.ID == "":
			return fmt.Errorf("%s:%d: field \"id\" is missing or empty", path, line)
		case !rec.hasPred() && rec.Error == "":
			return fmt.Errorf("%s:%d: item %q: record has neither \"pred\" nor \"error\" (delete the line to predict the item again)", path, line, rec.ID)
		}
		if prev, dup := out[rec.ID]; dup {
			if prev.Error != "" && !prev.hasPred() {
				// A later run retried an item that had failed: its
				// record replaces the failure.
				out[rec.ID], firstLine[rec.ID] = rec, line
				return nil
			}
			if !bytes.Equal(prev.Pred, rec.Pred) || prev.Error != rec.Error {
				return fmt.Errorf("%s:%d: item %q has another record than on line %d (two runs wrote this file at once?): delete one of the two lines, or the file to predict everything again", path, line, rec.ID, firstLine[rec.ID])
			}
			return nil
		}
		out[rec.ID], firstLine[rec.ID] = rec, line
		return nil
	}
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			if pending != nil {
				if err := handle(pending, pendingOff, false); err != nil {
					return nil, tail, err
				}
			}
			pending, pendingOff = b, off
			off += int64(len(b))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, tail, fmt.Errorf("%s: %v", path, err)
		}
	}
	if pending != nil {
		if err := handle(pending, pendingOff, true); err != nil {
			return nil, tail, err
		}
		tail.noNewline = tail.torn < 0 && pending[len(pending)-1] != '\n'
	}
	return out, tail, nil
}

// hasPred: a prediction, JSON null being none.
func (r Record) hasPred() bool {
	p := bytes.TrimSpace(r.Pred)
	return len(p) > 0 && !bytes.Equal(p, []byte("null"))
}

// repairTail makes a predictions file safe to append to: a torn last line
// is cut off (and said once on log), a last record without its newline
// gets one.
func repairTail(path string, tail cacheTail, log io.Writer) error {
	switch {
	case tail.torn >= 0:
		if err := os.Truncate(path, tail.torn); err != nil {
			return err
		}
		fmt.Fprintf(log, "%s: its last line (%d bytes) was cut short by an interrupted run: dropped, that item is predicted again\n", path, tail.tornLen)
	case tail.noNewline:
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

// checkItemIDs refuses items without an ID or sharing one: predictions are
// cached by ID, so one item's answer would be taken for the other's.
func checkItemIDs(task string, items []Item) error {
	at := make(map[string]int, len(items))
	for i, it := range items {
		if it.ID == "" {
			return fmt.Errorf("%s: item %d of %d has an empty ID (predictions are cached by ID)", task, i+1, len(items))
		}
		if j, dup := at[it.ID]; dup {
			return fmt.Errorf("%s: items %d and %d have the same ID %q: one's cached prediction would be taken for the other's", task, j+1, i+1, it.ID)
		}
		at[it.ID] = i
	}
	return nil
}

// Selection picks the items a run or a re-scoring covers: those listed in
// Subset (nil = all), then the first Limit of them (0 = all), in the
// task's order.
type Selection struct {
	Subset []string
	Limit  int
}

// ReadSubsetFile reads item IDs, one per line (blank lines ignored), as
// predictions and samples files name them.
func ReadSubsetFile(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]int{}
	for n, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if first, dup := seen[l]; dup {
				return nil, fmt.Errorf("%s:%d: item %q is also on line %d (a subset lists each item once)", path, n+1, l, first)
			}
			seen[l] = n + 1
			ids = append(ids, l)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no item IDs (want one per line)", path)
	}
	return ids, nil
}

// KeepSubset writes a subset's IDs into dir, beside results.json, for
// score to reuse, and returns the file's name: subset-<digest>.txt, so that
// runs on the same subset share it.
func KeepSubset(dir string, ids []string) (string, error) {
	name := "subset-" + idsDigest(ids)[:16] + ".txt"
	return name, os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(ids, "\n")+"\n"), 0o644)
}

// ItemsDigest is the SHA-256 (hex) of the items' IDs, sorted and joined by
// newlines: equal for two runs exactly when they covered the same items.
func ItemsDigest(items []Item) string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return idsDigest(ids)
}

func idsDigest(ids []string) string {
	s := append([]string(nil), ids...)
	sort.Strings(s)
	s = slices.Compact(s)
	h := sha256.Sum256([]byte(strings.Join(s, "\n")))
	return hex.EncodeToString(h[:])
}

// CheckSelection loads task's items and applies sel as a run would, so that
// a subset naming items the task lacks fails before any model runs.
func CheckSelection(task Task, sel Selection) error {
	items, err := task.Items()
	if err != nil {
		return err
	}
	if err := checkItemIDs(task.Name(), items); err != nil {
		return err
	}
	if _, err := selectItems(items, sel.Subset, sel.Limit); err != nil {
		return fmt.Errorf("%s: %w", task.Name(), err)
	}
	return nil
}

// selectItems applies a subset (item IDs, all of which must exist) and then
// a limit, keeping the task's order.
func selectItems(items []Item, subset []string, limit int) ([]Item, error) {
	if subset != nil {
		want := map[string]bool{}
		for _, id := range subset {
			want[id] = true
		}
		var kept []Item
		for _, it := range items {
			if want[it.ID] {
				kept = append(kept, it)
				delete(want, it.ID)
			}
		}
		for id := range want {
			return nil, fmt.Errorf("subset lists item %q, which the task does not have", id)
		}
		items = kept
	}
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	return items, nil
}

// Run executes task on m, resuming from cached predictions, and writes
// predictions, per-sample logs and results.json. It returns the result.
func Run(ctx context.Context, task Task, m Model, cfg RunConfig) (*Result, error) {
	started := time.Now()
	info := m.Info()
	if cfg.Backend != "" {
		info.Backend = cfg.Backend
	}
	info.Name = dryName(cfg, info.Name)
	if cfg.DType != "" {
		info.DType = cfg.DType
	}
	if info.DType == "" {
		info.DType = "float32"
	}
	if b := filepath.Base(info.Name); b == "." || b == ".." || b == string(filepath.Separator) {
		return nil, fmt.Errorf("model name %q cannot name its results folder %s", info.Name, filepath.Join(cfg.OutDir, task.Name(), "<model>"))
	}
	items, err := task.Items()
	if err != nil {
		return nil, err
	}
	if err := checkItemIDs(task.Name(), items); err != nil {
		return nil, err
	}
	if items, err = selectItems(items, cfg.Subset, cfg.Limit); err != nil {
		return nil, fmt.Errorf("%s: %w", task.Name(), err)
	}
	// Hashed before predicting: a data file gone missing fails the run early.
	dataFiles, err := taskDataFiles(task)
	if err != nil {
		return nil, err
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 8
	}
	dir := RunDir(cfg, task, info)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	subsetFile := ""
	if cfg.Subset != nil {
		if subsetFile, err = KeepSubset(dir, cfg.Subset); err != nil {
			return nil, err
		}
	}
	predPath := PredictionsPath(cfg, task, info)
	cached, tail, err := loadRecords(predPath)
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = os.Stderr
	}
	if err := repairTail(predPath, tail, log); err != nil {
		return nil, err
	}
	var todo []Item
	for _, it := range items {
		// An item that failed before (an unreadable image since fixed, a
		// judge that timed out) is tried again.
		if r, ok := cached[it.ID]; !ok || r.Error != "" {
			todo = append(todo, it)
		}
	}
	computed := len(todo)
	if len(todo) > 0 {
		if err := predictInto(ctx, task, m, todo, cfg, predPath, cached); err != nil {
			return nil, err
		}
	}
	wall := time.Since(started).Seconds()
	res, err := scoreAndWrite(task, items, cached, dir)
	if err != nil {
		return nil, err
	}
	res.Model = info
	res.Run = RunInfo{
		Backend: info.Backend, DType: info.DType, BatchSize: cfg.BatchSize, Seed: cfg.Seed,
		GitCommit: cfg.GitCommit, Started: started.UTC().Format(time.RFC3339), WallSeconds: wall,
		Computed: computed, Cached: len(items) - computed, Limit: cfg.Limit, Subset: subsetFile,
	}
	if computed > 0 && wall > 0 {
		res.Run.ItemsPerSecond = float64(computed) / wall
	}
	res.Predictions = filepath.Base(predPath)
	res.DataFiles = dataFiles
	if err := res.Write(filepath.Join(dir, "results.json")); err != nil {
		return res, err
	}
	if cfg.Failed != nil && res.NSamples.Failed > 0 {
		var failed []Record
		for _, it := range items {
			if r := cached[it.ID]; r.Error != "" {
				failed = append(failed, r)
			}
		}
		cfg.Failed(failed)
	}
	return res, nil
}

func predictInto(ctx context.Context, task Task, m Model, todo []Item, cfg RunConfig, predPath string, cached map[string]Record) error {
	f, err := os.OpenFile(predPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	var bar *progressbar.ProgressBar
	if cfg.Progress != nil {
		bar = progressbar.NewOptions(len(todo),
			progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription(task.Name()),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("items"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(cfg.Progress) }),
		)
		_ = bar.RenderBlank() // starts the clock now, so the first rate shown is the first batch's
	}
	var batches [][]Item
	for start := 0; start < len(todo); start += cfg.BatchSize {
		batches = append(batches, todo[start:min(start+cfg.BatchSize, len(todo))])
	}
	err = RunBatches(ctx, task, m, batches, func(k int, recs []Record) error {
		batch := batches[k]
		if len(recs) != len(batch) {
			return fmt.Errorf("%s: Predict returned %d records for %d items", task.Name(), len(recs), len(batch))
		}
		var buf []byte
		for i, r := range recs {
			r.ID = batch[i].ID
			if !r.hasPred() && r.Error == "" {
				// A task that drops json.Marshal's error (NaN or Inf in a
				// float field) gives this; cached, it would fail scoring later.
				return fmt.Errorf("%s: item %q: Predict gave neither a prediction nor an error (a prediction that could not be encoded as JSON?)", task.Name(), r.ID)
			}
			line, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("%s: item %q: %v", task.Name(), r.ID, err)
			}
			buf = append(append(buf, line...), '\n')
			cached[r.ID] = r
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if bar != nil {
			bar.Add(len(batch))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return f.Sync()
}

func scoreAndWrite(task Task, items []Item, cached map[string]Record, dir string) (*Result, error) {
	recs := make([]Record, len(items))
	failed := 0
	for i, it := range items {
		recs[i] = cached[it.ID]
		if recs[i].Error != "" {
			failed++
		}
	}
	var met *Metrics
	var err error
	if SubmissionOnly(task) {
		// No public answers (VQAv2 test-dev): results.json records the
		// run, with the share answered, so that score can export the
		// submission from it.
		met = &Metrics{}
		answered := 0.0
		if len(items) > 0 {
			answered = 100 * float64(len(items)-failed) / float64(len(items))
		}
		met.SetInformational("answered", answered, true)
	} else if met, err = task.Score(items, recs); err != nil {
		return nil, fmt.Errorf("%s: scoring: %w", task.Name(), err)
	}
	if len(met.PerSample) > 0 {
		if err := writeJSONL(filepath.Join(dir, "samples.jsonl"), met.PerSample); err != nil {
			return nil, err
		}
	}
	return &Result{
		Schema: ResultsSchema, Task: task.Name(), TaskVersion: task.Version(), Protocol: task.Protocol(),
		Metrics: met.Values, HigherIsBetter: met.HigherIsBetter, Informational: met.Informational,
		NSamples: NSamples{Total: len(items), Scored: len(items) - failed, Failed: failed, IDsSHA256: ItemsDigest(items)},
	}, nil
}

// Rescore recomputes metrics from a saved predictions file, without a
// model, over the items sel picks (a run's own selection is in its
// results.json: Run.Subset and Run.Limit).
func Rescore(task Task, predPath string, sel Selection) (*Result, error) {
	items, err := task.Items()
	if err != nil {
		return nil, err
	}
	if err := checkItemIDs(task.Name(), items); err != nil {
		return nil, err
	}
	if items, err = selectItems(items, sel.Subset, sel.Limit); err != nil {
		return nil, fmt.Errorf("%s: %w", task.Name(), err)
	}
	cached, err := LoadRecords(predPath)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if _, ok := cached[it.ID]; !ok {
			return nil, fmt.Errorf("%s: no prediction for item %q: run the model first (evalrun run)", predPath, it.ID)
		}
	}
	dataFiles, err := taskDataFiles(task)
	if err != nil {
		return nil, err
	}
	res, err := scoreAndWrite(task, items, cached, filepath.Dir(predPath))
	if err != nil {
		return nil, err
	}
	res.DataFiles = dataFiles // the files this scoring read
	return res, nil
}

func writeJSONL(path string, rows []map[string]any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range rows {
		err := enc.Encode(r)
		if _, nonFinite := err.(*json.UnsupportedValueError); nonFinite {
			err = enc.Encode(jsonSafe(r))
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// jsonSafe returns v with every NaN or infinite float (in maps and slices
// of the kinds per-sample rows hold) as a JSONFloat, which encoding/json can
// write.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return JSONFloat(x)
		}
	case float32:
		return jsonSafe(float64(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case []float64:
		out := make([]JSONFloat, len(x))
		for i, e := range x {
			out[i] = JSONFloat(e)
		}
		return out
	case []float32:
		out := make([]JSONFloat, len(x))
		for i, e := range x {
			out[i] = JSONFloat(e)
		}
		return out
	}
	return v
}
