package bench_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/flickr8k"
	"github.com/dualtoken/evalharness/bench/imagenet"
	"github.com/dualtoken/evalharness/bench/mmbench"
	"github.com/dualtoken/evalharness/bench/mme"
	"github.com/dualtoken/evalharness/bench/mmvet"
	"github.com/dualtoken/evalharness/bench/pope"
	"github.com/dualtoken/evalharness/bench/seed"
	"github.com/dualtoken/evalharness/bench/vqa"
)

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// setHash is a file-set entry's hash as DataFile documents it, worked out
// from the folder's *.txt files.
func setHash(t *testing.T, dir string) string {
	t.Helper()
	txts, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	if len(txts) == 0 {
		t.Fatalf("no .txt files in %s", dir)
	}
	var lines []string
	for _, p := range txts {
		lines = append(lines, filepath.Base(p)+"\t"+sha256File(t, p)+"\n")
	}
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "")))
	return hex.EncodeToString(h[:])
}

// Every suite with fixed files names them, keyed as the official layout
// names them under the data root, each hashed over its bytes.
func TestDemoSuitesRecordTheirFixedFiles(t *testing.T) {
	mmeRoot := mme.RootName + "/"
	cases := []struct {
		name  string
		extra map[string]string // options beyond the demo's
		keys  []string
	}{
		{imagenet.Name, nil, []string{"ILSVRC2012_validation_ground_truth.txt", "classnames.txt", "synsets.txt"}},
		{pope.Name, nil, []string{"coco_pope_adversarial.json", "coco_pope_popular.json", "coco_pope_random.json"}},
		{pope.Name, map[string]string{"splits": "popular"}, []string{"coco_pope_popular.json"}},
		{vqa.Name, nil, []string{"v2_OpenEnded_mscoco_val2014_questions.json", "v2_mscoco_val2014_annotations.json"}},
		{mmbench.Name, nil, []string{mmbench.DemoFile}},
		{seed.Name, nil, []string{seed.FileName}},
		{mmvet.Name, nil, []string{mmvet.FileName}},
		{flickr8k.Name, nil, []string{"Flickr8k.token.txt", "Flickr_8k.testImages.txt"}},
		{flickr8k.Name, map[string]string{"split": "karpathy"}, []string{"flickr8k_test_karpathy.txt"}},
		{mme.Name, nil, []string{mmeRoot + "artwork/questions_answers_YN", mmeRoot + "color", mmeRoot + "count",
			mmeRoot + "existence", mmeRoot + "position"}},
	}
	for _, c := range cases {
		name, keys := c.name, c.keys
		t.Run(strings.TrimSuffix(fmt.Sprint(name, " ", c.extra), " map[]"), func(t *testing.T) {
			dir := t.TempDir()
			writer, ok := bench.Demo(name)
			if !ok {
				t.Fatalf("no demo writer")
			}
			opts, err := writer(dir, 3, 24)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.extra {
				if opts.Extra == nil {
					opts.Extra = map[string]string{}
				}
				opts.Extra[k] = v
			}
			task, err := bench.New(name, opts)
			if err != nil {
				t.Fatal(err)
			}
			df, ok := task.(bench.DataFiler)
			if !ok {
				t.Fatalf("%T is not a bench.DataFiler", task)
			}
			root, files, err := df.DataFiles()
			if err != nil {
				t.Fatal(err)
			}
			got, err := bench.HashDataFiles(root, files)
			if err != nil {
				t.Fatal(err)
			}
			gotKeys := make([]string, 0, len(got))
			for k := range got {
				gotKeys = append(gotKeys, k)
			}
			sort.Strings(gotKeys)
			if !slices.Equal(gotKeys, keys) {
				t.Fatalf("data_files keys %q, want %q", gotKeys, keys)
			}
			for k, v := range got {
				p := filepath.Join(dir, filepath.FromSlash(k))
				wantHash := ""
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					wantHash = setHash(t, p)
				} else {
					wantHash = sha256File(t, p)
				}
				if v != wantHash {
					t.Errorf("%s: hash %s, want %s", k, v, wantHash)
				}
			}
		})
	}
}

// yesMan answers every question "Yes".
type yesMan struct{}

func (yesMan) Info() bench.ModelInfo { return bench.ModelInfo{Name: "yes-man"} }
func (yesMan) Answer(_ context.Context, qs []bench.Question) ([]string, error) {
	out := make([]string, len(qs))
	for i := range out {
		out[i] = "Yes"
	}
	return out, nil
}
func (yesMan) MeanNLL(_ context.Context, _ bench.Question, c []string) ([]float64, error) {
	return make([]float64, len(c)), nil
}

// A run records data_files, which read back through ReadResult; after one
// question file is edited, DataDiffers names exactly that file, and a
// re-score records what it read.
func TestRunRecordsDataFilesAndTamperingShows(t *testing.T) {
	dir := t.TempDir()
	writer, _ := bench.Demo(pope.Name)
	opts, err := writer(filepath.Join(dir, "data"), 5, 12)
	if err != nil {
		t.Fatal(err)
	}
	run := func(out string) *bench.Result {
		t.Helper()
		task, err := bench.New(pope.Name, opts)
		if err != nil {
			t.Fatal(err)
		}
		cfg := bench.RunConfig{OutDir: filepath.Join(dir, out), Log: &strings.Builder{}}
		res, err := bench.Run(context.Background(), task, yesMan{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		read, err := bench.ReadResult(filepath.Join(bench.RunDir(cfg, task, yesMan{}.Info()), "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(read.DataFiles, res.DataFiles) {
			t.Fatalf("data_files read back as %v, written %v", read.DataFiles, res.DataFiles)
		}
		return read
	}
	first := run("a")
	for _, s := range pope.Splits {
		k := "coco_pope_" + s + ".json"
		if want := sha256File(t, filepath.Join(opts.Data, k)); first.DataFiles[k] != want {
			t.Errorf("data_files[%q] = %q, want %s", k, first.DataFiles[k], want)
		}
	}
	if len(first.DataFiles) != len(pope.Splits) {
		t.Errorf("data_files %v, want the %d question files", first.DataFiles, len(pope.Splits))
	}
	if d := bench.DataDiffers(first, run("b")); d != nil {
		t.Errorf("same data: DataDiffers = %q", d)
	}

	// One question reworded: same IDs, other bytes.
	popular := filepath.Join(opts.Data, "coco_pope_popular.json")
	b, err := os.ReadFile(popular)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "Is there", "Is there really", 1)
	if edited == string(b) {
		t.Fatal("demo question file has no \"Is there\" to edit")
	}
	if err := os.WriteFile(popular, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	second := run("c")
	if d := bench.DataDiffers(first, second); !slices.Equal(d, []string{"coco_pope_popular.json"}) {
		t.Errorf("after editing coco_pope_popular.json: DataDiffers = %q", d)
	}

	task, err := bench.New(pope.Name, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bench.RunConfig{OutDir: filepath.Join(dir, "a")}
	re, err := bench.Rescore(task, bench.PredictionsPath(cfg, task, yesMan{}.Info()), bench.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(re.DataFiles, second.DataFiles) {
		t.Errorf("re-score recorded %v, want the data it read %v", re.DataFiles, second.DataFiles)
	}
}
