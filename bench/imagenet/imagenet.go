// Package imagenet is the ImageNet-1K zero-shot classification suite
// (benchmarks.md §7): class embeddings from prompt templates (each prompt
// L2-normalised, averaged per class, renormalised), image embeddings, top-1 /
// top-5 with ties broken by the lowest class index.
//
// Data layouts accepted under the data root:
//   - ImageFolder: val/<wnid>/*.JPEG (or <wnid>/*.JPEG at the root);
//   - flat: val/ILSVRC2012_val_NNNNNNNN.JPEG with
//     ILSVRC2012_validation_ground_truth.txt (ILSVRC2012_IDs, 1-based, in the
//     devkit's meta.mat order) and synsets.txt mapping those IDs to WNIDs (line
//     i = WNID of ID i, extra words after the WNID ignored). A 1000-line list
//     in sorted-WNID order (Kaggle's LOC_synset_mapping.txt) is refused: it
//     is not the order the IDs number.
//
// Class index = position of the WNID in sorted WNID order (0 = n01440764).
// Class names: --opt classnames=FILE or classnames.txt in the data root (one
// per line, sorted-WNID order), else the built-in OpenAI CLIP list.
package imagenet

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/metrics"
)

// Name is the registry name.
const Name = "imagenet-zeroshot"

// Version is Task.Version: it changes whenever predictions or scores would.
const Version = 1

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "ImageNet-1K val zero-shot top-1/top-5",
		Data: "ImageFolder val/<wnid>/*.JPEG (or <wnid>/ at the root), or flat val/*.JPEG with ILSVRC2012_validation_ground_truth.txt and synsets.txt; optionally classnames.txt in sorted-WNID order (else the built-in OpenAI names)",
		Options: []bench.OptionDoc{
			{Key: "templates", Help: "prompt templates averaged per class: openai80 (CLIP's 80), clip_paper (80 + the bare name), clip_best (CLIP's selected 7 + the bare name), class_name_only", Default: "openai80", Values: []string{"openai80", "clip_paper", "clip_best", "class_name_only"}},
			{Key: "classnames", Help: "FILE of class names, one per line in sorted-WNID order, or openai = the built-in list (OpenAI CLIP's 1000 names, as CLIP_benchmark and open_clip use; ties between its two 'missile' and two 'sunglasses' go to the lower index); default: classnames.txt in the data root if there is one, else openai"},
			{Key: "synsets", Help: "flat layout only: FILE mapping ILSVRC2012 IDs to WNIDs, line i = ID i (default: synsets.txt in the data root)"},
		},
		New: New})
}

// BuiltinClassNames is the classnames value naming openAIClassNames.
const BuiltinClassNames = "openai"

// openAIClassNames is OpenAI CLIP's ImageNet-1K class-name list (the names
// CLIP's prompt-engineering notebook edited, e.g. "hammerhead shark",
// "rooster"), one per line in sorted-WNID order, taken unchanged from
// CLIP_benchmark's en_classnames.json ("imagenet1k"; LAION-AI/CLIP_benchmark
// at 48de38c), the list benchmarks.md §7 names.
//
//go:embed classnames_openai.txt
var openAIClassNames string

// Task is one configured zero-shot run.
type Task struct {
	data       string
	templates  string
	classNames []string
	items      []bench.Item
	// the options naming class-list files (DataFiles)
	synsetsOpt, namesPath string
	// Absolute paths and SHA-256 of the class names and (flat layout) the
	// ID -> WNID list in force.
	namesSHA256, synsetsPath, synsetsSHA256 string
	// the classifier [classes, dim], computed once per model
	classEmb []float32
	dim      int
	embFor   string
}

type sample struct {
	Path  string
	Label int
}

// New configures the task from options.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, templates: opts.Get("templates", "openai80")}
	if opts.Data == "" {
		return nil, fmt.Errorf("%s: --data (the ImageNet root) is required", Name)
	}
	if _, err := t.templateList(); err != nil {
		return nil, err
	}
	wnids, samples, err := scan(opts.Data, opts.Get("synsets", ""))
	if err != nil {
		return nil, err
	}
	names, err := t.classNameList(opts, len(wnids))
	if err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("%s: no images to classify in %s", Name, opts.Data)
	}
	t.classNames = names
	t.synsetsOpt = opts.Get("synsets", "")
	// The class names set the classifier and, in the flat layout, the
	// ID -> WNID list sets every label: both enter the protocol (and so the
	// prediction cache key) by path and content, and score restores them.
	if _, err := os.Stat(filepath.Join(opts.Data, "ILSVRC2012_validation_ground_truth.txt")); err == nil {
		syn := t.synsetsOpt
		if syn == "" {
			syn = filepath.Join(opts.Data, "synsets.txt")
		}
		if t.synsetsPath, err = filepath.Abs(syn); err != nil {
			return nil, err
		}
		if t.synsetsSHA256, err = bench.FileSHA256(t.synsetsPath); err != nil {
			return nil, fmt.Errorf("%s: synsets: %v", Name, err)
		}
	}
	for _, s := range samples {
		rel, _ := filepath.Rel(opts.Data, s.Path)
		t.items = append(t.items, bench.Item{ID: filepath.ToSlash(rel), Payload: s})
	}
	return t, nil
}

// classNameList reads the class names in force (classes of them) and sets
// namesPath and namesSHA256: the classnames option's file, classnames.txt in
// the data root, or else the built-in OpenAI list.
func (t *Task) classNameList(opts bench.Options, classes int) ([]string, error) {
	path := opts.Get("classnames", "")
	if path == "" {
		path = filepath.Join(opts.Data, "classnames.txt")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			path = BuiltinClassNames
		}
	}
	if path == BuiltinClassNames {
		names := strings.Split(strings.TrimSuffix(openAIClassNames, "\n"), "\n")
		if len(names) != classes {
			return nil, fmt.Errorf("%s: the built-in class names (classnames=%s) are ImageNet-1K's %d but %s has %d classes (WNIDs): give that subset's names as classnames.txt in the data root or --opt classnames=FILE", Name, BuiltinClassNames, len(names), opts.Data, classes)
		}
		sum := sha256.Sum256([]byte(openAIClassNames))
		t.namesPath, t.namesSHA256 = BuiltinClassNames, hex.EncodeToString(sum[:])
		return names, nil
	}
	names, err := readLines(path)
	if err != nil {
		return nil, fmt.Errorf("%s: class names: %v (give classnames.txt in the data root or --opt classnames=FILE, one name per line in sorted-WNID order, or leave both out for the built-in list)", Name, err)
	}
	if len(names) != classes {
		return nil, fmt.Errorf("%s: %s has %d class names but there are %d classes (WNIDs) in %s", Name, path, len(names), classes, opts.Data)
	}
	if t.namesPath, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	if t.namesSHA256, err = bench.FileSHA256(t.namesPath); err != nil {
		return nil, fmt.Errorf("%s: class names: %v", Name, err)
	}
	return names, nil
}

func (t *Task) templateList() ([]string, error) {
	switch t.templates {
	case "openai80":
		return openAITemplates, nil
	case "clip_best":
		return append(append([]string(nil), clipBestTemplates...), "{}"), nil
	case "clip_paper":
		return append(append([]string(nil), openAITemplates...), "{}"), nil
	case "class_name_only":
		return []string{"{}"}, nil
	}
	return nil, fmt.Errorf("%s: unknown templates %q (openai80, clip_paper, clip_best, class_name_only)", Name, t.templates)
}

func (t *Task) Name() string  { return Name }
func (t *Task) Version() int  { return Version }
func (t *Task) Needs() string { return bench.NeedsEmbedder }
func (t *Task) Protocol() map[string]any {
	p := map[string]any{"data": t.data, "templates": t.templates, "classes": len(t.classNames), "ties": "lowest index",
		"classnames": t.namesPath, "classnames_sha256": t.namesSHA256}
	if t.synsetsPath != "" {
		p["synsets"], p["synsets_sha256"] = t.synsetsPath, t.synsetsSHA256
	}
	return p
}

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(sample).Path }

func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

// scan finds the classes and labelled images of either layout.
func scan(root, synsetsPath string) (wnids []string, samples []sample, err error) {
	val := filepath.Join(root, "val")
	if st, err := os.Stat(val); err != nil || !st.IsDir() {
		val = root
	}
	gt := filepath.Join(root, "ILSVRC2012_validation_ground_truth.txt")
	if _, err := os.Stat(gt); err == nil {
		return scanFlat(root, val, gt, synsetsPath)
	}
	entries, err := os.ReadDir(val)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", Name, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			wnids = append(wnids, e.Name())
		}
	}
	if len(wnids) == 0 {
		return nil, nil, fmt.Errorf("%s: %s has neither class folders (val/<wnid>/) nor ILSVRC2012_validation_ground_truth.txt", Name, root)
	}
	sort.Strings(wnids)
	for label, w := range wnids {
		files, err := os.ReadDir(filepath.Join(val, w))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			if !f.IsDir() && isImage(f.Name()) {
				samples = append(samples, sample{filepath.Join(val, w, f.Name()), label})
			}
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].Path < samples[j].Path })
	return wnids, samples, nil
}

// numILSVRCClasses is the number of ILSVRC2012 classes, IDs 1..1000.
const numILSVRCClasses = 1000

func scanFlat(root, val, gtPath, synsetsPath string) ([]string, []sample, error) {
	if synsetsPath == "" {
		synsetsPath = filepath.Join(root, "synsets.txt")
	}
	idToWnid, err := readLines(synsetsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: flat layout needs the ILSVRC2012_ID -> WNID list: %v (--opt synsets=FILE, line i = WNID of ID i)", Name, err)
	}
	for i, l := range idToWnid {
		idToWnid[i] = strings.Fields(l)[0] // readLines leaves no blank line
	}
	// The IDs are in meta.mat order, which is not sorted (ID 1 = n02119789
	// kit fox); a 1000-class list in sorted-WNID order, such as Kaggle's
	// LOC_synset_mapping.txt, would silently give most images another class.
	if n := len(idToWnid); n >= numILSVRCClasses && sort.StringsAreSorted(idToWnid[:numILSVRCClasses]) {
		return nil, nil, fmt.Errorf("%s: %s lists its WNIDs in sorted order (%s first, like Kaggle's LOC_synset_mapping.txt), but %s holds ILSVRC2012_IDs, which number the classes in the devkit's meta.mat order: pass the devkit's ID -> WNID list instead (--opt synsets=FILE, line i = WNID of ID i, starting n02119789, n02100735, n02110185), or use the ImageFolder layout", Name, synsetsPath, idToWnid[0], filepath.Base(gtPath))
	}
	wnids := append([]string(nil), idToWnid...)
	sort.Strings(wnids)
	index := map[string]int{}
	for i, w := range wnids {
		if _, dup := index[w]; dup {
			return nil, nil, fmt.Errorf("%s: %s lists WNID %s twice", Name, synsetsPath, w)
		}
		index[w] = i
	}
	ids, err := readLines(gtPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", Name, err)
	}
	var samples []sample
	for i, l := range ids {
		id, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || id < 1 || id > len(idToWnid) {
			return nil, nil, fmt.Errorf("%s:%d: %q is not an ILSVRC2012_ID in 1..%d", gtPath, i+1, l, len(idToWnid))
		}
		name := fmt.Sprintf("ILSVRC2012_val_%08d.JPEG", i+1)
		samples = append(samples, sample{filepath.Join(val, name), index[idToWnid[id-1]]})
	}
	return wnids, samples, nil
}

func isImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpeg", ".jpg", ".png", ".webp":
		return true
	}
	return false
}

// readLines returns the lines of path, line i being entry i (an ID, a
// label, a class name), without trailing blank lines. A blank line among the
// entries would shift every entry after it, so it is an error naming it.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", path, len(out)+1, err)
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	for i, l := range out {
		if strings.TrimSpace(l) == "" {
			return nil, fmt.Errorf("%s:%d: blank line among the entries (line i is entry i)", path, i+1)
		}
	}
	return out, nil
}

// ClassEmbeddings builds the zero-shot classifier [classes, d] from every
// class's prompts (metrics.ClassEmbeddings: normalise, average, renormalise).
func ClassEmbeddings(ctx context.Context, e bench.Embedder, classNames, templates []string) ([]float32, int, error) {
	var flat []float32
	d := 0
	for _, name := range classNames {
		prompts := make([]string, len(templates))
		for i, tpl := range templates {
			prompts[i] = strings.ReplaceAll(tpl, "{}", name)
		}
		embs, err := e.EmbedTexts(ctx, prompts)
		if err != nil {
			return nil, 0, fmt.Errorf("embedding prompts of class %q: %w", name, err)
		}
		for _, v := range embs {
			d = len(v)
			flat = append(flat, v...)
		}
	}
	ce, err := metrics.ClassEmbeddings(flat, len(classNames), len(templates), d)
	return ce, d, err
}

// pred is one image's outcome: the rank of the true class (0 = top-1) and
// the top-5 classes, ties to the lowest index.
type pred struct {
	Rank int   `json:"rank"`
	Top5 []int `json:"top5"`
}

func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	e := m.(bench.Embedder)
	if key := bench.ModelKey(m); t.classEmb == nil || t.embFor != key {
		tpls, _ := t.templateList()
		ce, d, err := ClassEmbeddings(ctx, e, t.classNames, tpls)
		if err != nil {
			return nil, err
		}
		t.classEmb, t.dim, t.embFor = ce, d, key
	}
	recs := make([]bench.Record, len(items))
	imgs, errs := bench.LoadImages(items, func(it bench.Item) string { return it.Payload.(sample).Path })
	var ok []*imageio.Image
	var okIdx []int
	for i := range items {
		if errs[i] != nil {
			recs[i].Error = errs[i].Error()
			continue
		}
		ok, okIdx = append(ok, imgs[i]), append(okIdx, i)
	}
	if len(ok) == 0 {
		return recs, nil
	}
	embs, err := e.EmbedImages(ctx, ok)
	if err != nil {
		return nil, err
	}
	k := len(t.classNames)
	for j, i := range okIdx {
		row, err := metrics.Similarity(embs[j], 1, t.classEmb, k, t.dim, 100)
		if err != nil {
			return nil, err
		}
		top := metrics.SortedClassesByScore(row)
		b, _ := json.Marshal(pred{Rank: metrics.RankOf(row, items[i].Payload.(sample).Label), Top5: top[:min(5, k)]})
		recs[i].Pred = b
	}
	return recs, nil
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	m := &bench.Metrics{}
	var top1, top5 float64
	hits := make([]int, len(t.classNames))
	seen := make([]int, len(t.classNames))
	for i, it := range items {
		s := it.Payload.(sample)
		seen[s.Label]++
		row := map[string]any{"id": it.ID, "label": s.Label, "class": t.classNames[s.Label]}
		if recs[i].Error != "" { // a failed image counts as wrong
			row["error"] = recs[i].Error
			m.PerSample = append(m.PerSample, row)
			continue
		}
		var p pred
		if err := json.Unmarshal(recs[i].Pred, &p); err != nil {
			return nil, fmt.Errorf("item %s: bad prediction: %v", it.ID, err)
		}
		if p.Rank < 0 || p.Rank >= len(t.classNames) {
			return nil, fmt.Errorf("item %s: bad prediction: rank %d of the true class, want 0..%d", it.ID, p.Rank, len(t.classNames)-1)
		}
		if p.Rank == 0 {
			top1++
			hits[s.Label]++
		}
		if p.Rank < 5 {
			top5++
		}
		row["rank"], row["top5"], row["correct"] = p.Rank, p.Top5, p.Rank == 0
		m.PerSample = append(m.PerSample, row)
	}
	n := float64(len(items))
	recall, classes := 0.0, 0
	for c := range seen {
		if seen[c] > 0 {
			recall += float64(hits[c]) / float64(seen[c])
			classes++
		}
	}
	m.Set("top1", 100*top1/n, true)
	m.Set("top5", 100*top5/n, true)
	m.Set("mean_per_class_recall", 100*recall/float64(classes), true)
	return m, nil
}
