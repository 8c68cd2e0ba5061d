// Package flickr8k is the Flickr8K image–text retrieval suite
// (benchmarks.md §8): recall@1/5/10 text→image and image→text over the
// test split, five captions per image, S = T·Iᵀ on normalised embeddings,
// ties broken by the lowest index.
//
// Layout under the data root: Flickr8k.token.txt (`<img>.jpg#k\t<caption>`),
// the split lists Flickr_8k.{train,dev,test}Images.txt, optionally
// flickr8k_test_karpathy.txt (CLIP_benchmark's test list and captions: an
// "image,caption" header, then `<img>.jpg,<caption>` lines split on ".jpg,";
// split=karpathy needs only this file), and the images in Flicker8k_Dataset/
// (the official folder name, misspelt) or Flickr8k_Dataset/ or Images/ — for
// split=karpathy, failing those, the data root itself, as CLIP_benchmark.
package flickr8k

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
const Name = "flickr8k"

// Version is Task.Version: it changes whenever predictions or scores would.
// 2: split=karpathy reads CLIP_benchmark's file as it does (header skipped,
// captions from that file, not Flickr8k.token.txt).
const Version = 2

func init() {
	bench.Register(bench.Spec{Name: Name, Version: Version,
		Help: "Flickr8K retrieval R@1/5/10 both directions",
		Data: "Flickr8k.token.txt and Flickr_8k.{train,dev,test}Images.txt (split=karpathy: flickr8k_test_karpathy.txt alone), images in Flicker8k_Dataset/, Flickr8k_Dataset/ or Images/",
		Options: []bench.OptionDoc{
			{Key: "split", Help: "image list: the official Flickr_8k.<split>Images.txt, or karpathy = flickr8k_test_karpathy.txt (CLIP_benchmark's test list and captions)", Default: "test", Values: []string{"test", "dev", "train", "karpathy"}},
		},
		New: New})
}

// Task is one configured retrieval run. Items are images; each image's
// record holds its embedding and its captions' embeddings, and Score ranks
// across the whole split.
type Task struct {
	data, split string
	items       []bench.Item
}

type entry struct {
	Image    string
	Path     string
	Captions []string
}

// New configures the task.
func New(opts bench.Options) (bench.Task, error) {
	t := &Task{data: opts.Data, split: opts.Get("split", "test")}
	if t.data == "" {
		return nil, fmt.Errorf("%s: --data (the Flickr8K root) is required", Name)
	}
	var list []entry // images in split order, with their captions
	var listPath, capsFrom string
	var err error
	switch t.split {
	case "test", "dev", "train":
		capsFrom = filepath.Join(t.data, "Flickr8k.token.txt")
		caps, err := readTokens(capsFrom)
		if err != nil {
			return nil, err
		}
		listPath = filepath.Join(t.data, fmt.Sprintf("Flickr_8k.%sImages.txt", t.split))
		names, err := readList(listPath)
		if err != nil {
			return nil, err
		}
		for _, img := range names {
			list = append(list, entry{Image: img, Captions: caps[img]})
		}
	case "karpathy":
		// CLIP_benchmark's own file holds the captions too; Flickr8k.token.txt
		// is neither read nor needed.
		listPath = filepath.Join(t.data, "flickr8k_test_karpathy.txt")
		capsFrom = listPath
		list, err = readKarpathy(listPath)
	default:
		return nil, fmt.Errorf("%s: unknown split %q (test, dev, train, karpathy)", Name, t.split)
	}
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: %s lists no images", Name, listPath)
	}
	imgDir := ""
	for _, d := range []string{"Flicker8k_Dataset", "Flickr8k_Dataset", "Images"} {
		if st, err := os.Stat(filepath.Join(t.data, d)); err == nil && st.IsDir() {
			imgDir = filepath.Join(t.data, d)
			break
		}
	}
	if imgDir == "" && t.split == "karpathy" {
		// CLIP_benchmark opens <root>/<image>: its root is Kaggle's Images
		// folder holding the list as well.
		imgDir = t.data
	}
	if imgDir == "" {
		return nil, fmt.Errorf("%s: no image folder (Flicker8k_Dataset/, Flickr8k_Dataset/ or Images/) in %s", Name, t.data)
	}
	for _, e := range list {
		img := e.Image
		if len(e.Captions) == 0 {
			return nil, fmt.Errorf("%s: split lists %s, which has no captions in %s", Name, img, capsFrom)
		}
		if !filepath.IsLocal(img) { // a data file must not reach outside the image folder
			return nil, fmt.Errorf("%s: split lists image %q, expected a file inside %s", Name, img, imgDir)
		}
		e.Path = filepath.Join(imgDir, img)
		t.items = append(t.items, bench.Item{ID: img, Payload: e})
	}
	return t, nil
}

// readTokens parses Flickr8k.token.txt into captions per image, ordered by k.
func readTokens(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	defer f.Close()
	type kc struct {
		k int
		c string
	}
	byImg := map[string][]kc{}
	lineOf := map[string]int{} // "<image>#<k>" -> line, to catch repeats
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimRight(sc.Text(), "\r")
		if l == "" {
			continue
		}
		key, caption, ok := strings.Cut(l, "\t")
		img, kstr, ok2 := strings.Cut(key, "#")
		k, err := strconv.Atoi(kstr)
		if !ok || !ok2 || err != nil || img == "" {
			return nil, fmt.Errorf("%s:%d: expected \"<image>.jpg#<k>\\t<caption>\", found %q", path, line, l)
		}
		id := img + "#" + strconv.Itoa(k)
		if prev, dup := lineOf[id]; dup {
			return nil, fmt.Errorf("%s:%d: caption %s already given on line %d", path, line, id, prev)
		}
		lineOf[id] = line
		caption = strings.TrimSpace(caption)
		if caption == "" {
			return nil, fmt.Errorf("%s:%d: caption %s is empty", path, line, id)
		}
		byImg[img] = append(byImg[img], kc{k, caption})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", path, line+1, err)
	}
	out := map[string][]string{}
	for img, list := range byImg {
		sort.Slice(list, func(i, j int) bool { return list[i].k < list[j].k })
		for _, x := range list {
			out[img] = append(out[img], x.c)
		}
	}
	return out, nil
}

// readList reads an official split list, one image name a line.
func readList(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		out = append(out, l)
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, x := range out {
		if !seen[x] {
			seen[x] = true
			uniq = append(uniq, x)
		}
	}
	return uniq, nil
}

// readKarpathy reads CLIP_benchmark's flickr8k_test_karpathy.txt as its
// Flickr dataset does: the first line (the "image,caption" header) skipped,
// every other stripped, non-empty line split on ".jpg," into exactly an image
// (".jpg" put back) and its caption, captions grouped per image in file
// order, images in the order they first appear. A line that split cannot
// unpack fails there too; a first line that is itself a caption would be
// dropped silently, so it is an error here.
func readKarpathy(path string) ([]entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	var out []entry
	at := map[string]int{} // image -> index in out
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if i == 0 {
			if strings.Contains(l, ".jpg,") {
				return nil, fmt.Errorf("%s:1: the first line is skipped as CLIP_benchmark's header (image,caption), but it is a caption: %q", path, l)
			}
			continue
		}
		if l == "" {
			continue
		}
		parts := strings.Split(l, ".jpg,")
		if len(parts) != 2 {
			return nil, fmt.Errorf("%s:%d: expected \"<image>.jpg,<caption>\" with one \".jpg,\", found %q", path, i+1, l)
		}
		img := parts[0] + ".jpg"
		j, ok := at[img]
		if !ok {
			j = len(out)
			at[img] = j
			out = append(out, entry{Image: img})
		}
		out[j].Captions = append(out[j].Captions, parts[1])
	}
	return out, nil
}

func (t *Task) Name() string  { return Name }
func (t *Task) Version() int  { return Version }
func (t *Task) Needs() string { return bench.NeedsEmbedder }
func (t *Task) Protocol() map[string]any {
	caps := "Flickr8k.token.txt, by #k"
	if t.split == "karpathy" {
		caps = "flickr8k_test_karpathy.txt as CLIP_benchmark: header skipped, lines split on .jpg, grouped per image in file order"
	}
	return map[string]any{"data": t.data, "split": t.split, "captions": caps, "similarity": "cosine", "ties": "lowest index"}
}

// ImagePath lets the runner decode the next batch ahead (bench.ImagePather).
func (t *Task) ImagePath(it bench.Item) string { return it.Payload.(entry).Path }

func (t *Task) Items() ([]bench.Item, error) { return t.items, nil }

type pred struct {
	Image    []float32   `json:"image"`
	Captions [][]float32 `json:"captions"`
}

func (t *Task) Predict(ctx context.Context, m bench.Model, items []bench.Item) ([]bench.Record, error) {
	e := m.(bench.Embedder)
	recs := make([]bench.Record, len(items))
	imgs, errs := bench.LoadImages(items, func(it bench.Item) string { return it.Payload.(entry).Path })
	var ok []*imageio.Image
	var okIdx []int
	var texts []string
	for i, it := range items {
		if errs[i] != nil {
			recs[i].Error = errs[i].Error()
			continue
		}
		ok, okIdx = append(ok, imgs[i]), append(okIdx, i)
		texts = append(texts, it.Payload.(entry).Captions...)
	}
	if len(ok) == 0 {
		return recs, nil
	}
	iemb, err := e.EmbedImages(ctx, ok)
	if err != nil {
		return nil, err
	}
	temb, err := e.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, err
	}
	next := 0
	for j, i := range okIdx {
		n := len(items[i].Payload.(entry).Captions)
		b, err := json.Marshal(pred{Image: iemb[j], Captions: temb[next : next+n]})
		next += n
		if err != nil { // NaN in an embedding: the record says so rather than hold nothing
			recs[i].Error = fmt.Sprintf("embedding not storable: %v", err)
			continue
		}
		recs[i].Pred = b
	}
	return recs, nil
}

// checkPred validates one image's record against its entry: one embedding
// per caption, every vector of the image embedding's size d (> 0), which the
// earlier records fixed unless first. Without this a corrupt record could
// shift every later embedding and still pass the total-size check.
func checkPred(p pred, captions, d int, first bool) error {
	if len(p.Image) == 0 {
		return fmt.Errorf("empty image embedding")
	}
	if !first && len(p.Image) != d {
		return fmt.Errorf("image embedding has %d values, want %d as the other images", len(p.Image), d)
	}
	if len(p.Captions) != captions {
		return fmt.Errorf("%d caption embeddings, want %d (one per caption)", len(p.Captions), captions)
	}
	for k, c := range p.Captions {
		if len(c) != len(p.Image) {
			return fmt.Errorf("caption %d embedding has %d values, want %d as the image's", k, len(c), len(p.Image))
		}
	}
	return nil
}

func (t *Task) Score(items []bench.Item, recs []bench.Record) (*bench.Metrics, error) {
	var imgEmb, txtEmb []float32
	var txtImg []int // caption -> image index
	nImg, d := 0, 0
	failed := 0
	for i, it := range items {
		if recs[i].Error != "" {
			failed++
			continue
		}
		var p pred
		if err := json.Unmarshal(recs[i].Pred, &p); err != nil {
			return nil, fmt.Errorf("item %s: bad prediction: %v", it.ID, err)
		}
		if err := checkPred(p, len(it.Payload.(entry).Captions), d, nImg == 0); err != nil {
			return nil, fmt.Errorf("item %s: bad prediction: %v", it.ID, err)
		}
		for _, c := range p.Captions {
			txtEmb = append(txtEmb, c...)
			txtImg = append(txtImg, nImg)
		}
		imgEmb = append(imgEmb, p.Image...)
		d = len(p.Image)
		nImg++
	}
	if failed > 0 {
		// Retrieval ranks over the whole gallery: a missing image changes every
		// rank, so the metric would be over a different benchmark.
		return nil, fmt.Errorf("%d of %d images failed to load; retrieval needs the whole split (see samples/predictions for which)", failed, len(items))
	}
	ks := []int{1, 5, 10}
	r, err := metrics.Retrieval(txtEmb, len(txtImg), imgEmb, nImg, d, txtImg, ks...)
	if err != nil {
		return nil, err
	}
	m := &bench.Metrics{}
	for i, k := range ks {
		m.Set(fmt.Sprintf("t2i_r%d", k), 100*r.TextToImage[i], true)
		m.Set(fmt.Sprintf("i2t_r%d", k), 100*r.ImageToText[i], true)
	}
	return m, nil
}
