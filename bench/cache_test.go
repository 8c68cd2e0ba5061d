package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idTask has the items it is given and predicts each one's ID; Score sets
// the metrics it is given.
type idTask struct {
	ids       []string
	metrics   map[string]float64
	perSample []map[string]any
	predicted *int
	empty     bool // Predict returns records with neither pred nor error
}

func (t idTask) Name() string             { return "ids" }
func (t idTask) Version() int             { return 1 }
func (t idTask) Protocol() map[string]any { return nil }
func (t idTask) Needs() string            { return "any" }
func (t idTask) Items() ([]Item, error) {
	out := make([]Item, len(t.ids))
	for i, id := range t.ids {
		out[i] = Item{ID: id}
	}
	return out, nil
}
func (t idTask) Predict(_ context.Context, _ Model, items []Item) ([]Record, error) {
	recs := make([]Record, len(items))
	for i, it := range items {
		if t.predicted != nil {
			*t.predicted++
		}
		if !t.empty {
			recs[i].Pred, _ = json.Marshal(it.ID)
		}
	}
	return recs, nil
}
func (t idTask) Score(items []Item, recs []Record) (*Metrics, error) {
	m := &Metrics{PerSample: t.perSample}
	for i, r := range recs {
		var id string
		if err := json.Unmarshal(r.Pred, &id); err != nil || id != items[i].ID {
			return nil, fmt.Errorf("item %s: cached prediction %s is another item's", items[i].ID, r.Pred)
		}
	}
	m.Set("n", float64(len(items)), true)
	for k, v := range t.metrics {
		m.Set(k, v, true)
	}
	return m, nil
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('a' + i))
	}
	return out
}

// A run killed mid-write leaves a last line cut short: the resumed run
// drops it (said once on the log), predicts that item again, and leaves a
// file that a third run reads whole, silently.
func TestTornLastLineIsDroppedOnce(t *testing.T) {
	for name, torn := range map[string]string{
		"unterminated":         `{"id":"c","pr`,
		"terminated":           "{\"id\":\"c\",\"pred\":\"c\"\n",
		"zeros after a crash":  "\x00\x00\x00\x00",
		"whole record, no \\n": `{"id":"c","pred":"c"}`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := RunConfig{OutDir: t.TempDir(), BatchSize: 2}
			n := 0
			task := idTask{ids: ids(5), predicted: &n}
			var log bytes.Buffer
			cfg.Log = &log
			p := PredictionsPath(cfg, task, fakeModel{}.Info())
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(`{"id":"a","pred":"a"}`+"\n"+`{"id":"b","pred":"b"}`+"\n"+torn), 0o644)
			if _, err := Run(context.Background(), task, fakeModel{}, cfg); err != nil {
				t.Fatal(err)
			}
			complete := name == "whole record, no \\n"
			want := 3
			if complete {
				want = 2 // c's record is whole: kept, and the next append starts on a new line
			}
			if n != want {
				t.Errorf("predicted %d items, want %d", n, want)
			}
			if got := strings.Count(log.String(), "\n"); complete && got != 0 || !complete && (got != 1 || !strings.Contains(log.String(), p)) {
				t.Errorf("log %q: want one line naming %s for a torn line, none for a whole record", log.String(), p)
			}
			log.Reset()
			n = 0
			if _, err := Run(context.Background(), task, fakeModel{}, cfg); err != nil {
				t.Fatal(err)
			}
			if n != 0 || log.Len() != 0 {
				t.Errorf("third run predicted %d items and logged %q, want 0 and nothing", n, log.String())
			}
		})
	}
}

// Anything but a torn last line is corruption, an error naming file and line.
func TestCorruptCacheIsAnError(t *testing.T) {
	a, b := `{"id":"a","pred":"a"}`, `{"id":"b","pred":"b"}`
	for _, c := range []struct{ name, body, want string }{
		{"garbage in the middle", a + "\nnot json\n" + b + "\n", ":2: not a prediction record"},
		{"half a record in the middle", a + "\n" + `{"id":"c","pr` + "\n" + b + "\n", ":2: not a prediction record"},
		{"empty id", a + "\n" + `{"id":"","pred":1}` + "\n" + b + "\n", `:2: field "id" is missing or empty`},
		{"empty id on the last line", a + "\n" + `{"pred":1}` + "\n", `:2: field "id" is missing or empty`},
		{"neither pred nor error", a + "\n" + `{"id":"c"}` + "\n" + b + "\n", `:2: item "c": record has neither`},
		{"null pred", a + "\n" + `{"id":"c","pred":null}` + "\n", `:2: item "c": record has neither`},
		{"id twice, other content", a + "\n" + b + "\n" + `{"id":"a","pred":"z"}` + "\n", `:3: item "a" has another record than on line 1`},
		{"a prediction, then an error", a + "\n" + `{"id":"a","error":"y"}` + "\n", `:2: item "a" has another record`},
		{"not an object", a + "\n[1,2]\n" + b + "\n", ":2: not a prediction record"},
		{"id of another type", a + "\n" + `{"id":5,"pred":1}` + "\n" + b + "\n", ":2: not a prediction record"},
	} {
		p := filepath.Join(t.TempDir(), "predictions-x.jsonl")
		os.WriteFile(p, []byte(c.body), 0o644)
		_, err := LoadRecords(p)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, p+c.want)
		}
		// The runner refuses to resume from it, and leaves it as it was.
		cfg := RunConfig{OutDir: t.TempDir(), Log: &bytes.Buffer{}}
		task := idTask{ids: ids(3)}
		pp := PredictionsPath(cfg, task, fakeModel{}.Info())
		os.MkdirAll(filepath.Dir(pp), 0o755)
		os.WriteFile(pp, []byte(c.body), 0o644)
		if _, err := Run(context.Background(), task, fakeModel{}, cfg); err == nil || !strings.Contains(err.Error(), pp+c.want) {
			t.Errorf("%s: Run got %v", c.name, err)
		}
		if got, _ := os.ReadFile(pp); string(got) != c.body {
			t.Errorf("%s: Run changed the corrupt file", c.name)
		}
	}
	// Tolerated: blank lines, CRLF line ends, a record repeated as it was.
	p := filepath.Join(t.TempDir(), "p.jsonl")
	os.WriteFile(p, []byte(a+"\r\n\n"+b+"\n"+a+"\n"), 0o644)
	if recs, err := LoadRecords(p); err != nil || len(recs) != 2 {
		t.Errorf("got %d records, %v; want 2", len(recs), err)
	}
	// A failure followed by a retry's record (another failure, then an
	// answer): the last one counts.
	os.WriteFile(p, []byte(`{"id":"a","error":"x"}`+"\n"+`{"id":"a","error":"y"}`+"\n"+b+"\n"+a+"\n"), 0o644)
	if recs, err := LoadRecords(p); err != nil || len(recs) != 2 || recs["a"].Error != "" || string(recs["a"].Pred) != `"a"` {
		t.Errorf("retried item: got %+v, %v; want a's prediction", recs, err)
	}
}

// Predictions are cached by item ID: a task whose items share an ID, or
// have none, would serve one item's answer for another's.
func TestItemIDsUniqueAndNonEmpty(t *testing.T) {
	for _, c := range []struct {
		ids  []string
		want string
	}{
		{[]string{"a", "b", "a"}, `ids: items 1 and 3 have the same ID "a"`},
		{[]string{"a", "", "c"}, "ids: item 2 of 3 has an empty ID"},
	} {
		n := 0
		cfg := RunConfig{OutDir: t.TempDir()}
		task := idTask{ids: c.ids, predicted: &n}
		if _, err := Run(context.Background(), task, fakeModel{}, cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: Run got %v, want %q", c.ids, err, c.want)
		}
		if n != 0 {
			t.Errorf("%q: predicted %d items before refusing", c.ids, n)
		}
		if _, err := Rescore(task, filepath.Join(t.TempDir(), "p.jsonl"), Selection{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: Rescore got %v, want %q", c.ids, err, c.want)
		}
	}
}

// A record with neither a prediction nor an error (a task that dropped
// json.Marshal's error on a NaN) is refused when predicted, not cached.
func TestEmptyRecordIsRefused(t *testing.T) {
	cfg := RunConfig{OutDir: t.TempDir()}
	task := idTask{ids: ids(2), empty: true}
	if _, err := Run(context.Background(), task, fakeModel{}, cfg); err == nil || !strings.Contains(err.Error(), `ids: item "a": Predict gave neither`) {
		t.Errorf("got %v", err)
	}
	if b, _ := os.ReadFile(PredictionsPath(cfg, task, fakeModel{}.Info())); len(b) != 0 {
		t.Errorf("cached %q", b)
	}
}

// A model name that is no folder name would put results beside other tasks'.
func TestModelNameNamesAFolder(t *testing.T) {
	for _, name := range []string{"..", ".", "/", "a/.."} {
		_, err := Run(context.Background(), idTask{ids: ids(1)}, namedModel(name), RunConfig{OutDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "cannot name its results folder") {
			t.Errorf("model %q: got %v", name, err)
		}
	}
}

type namedModel string

func (m namedModel) Info() ModelInfo { return ModelInfo{Name: string(m)} }

// NaN and infinite metrics (PSNR of a perfect reconstruction, entropy of no
// codes) are written as strings and read back; per-sample rows holding them
// are written too. encoding/json alone refuses them and the run was lost.
func TestNonFiniteMetricsRoundTrip(t *testing.T) {
	cfg := RunConfig{OutDir: t.TempDir()}
	task := idTask{ids: ids(2),
		metrics:   map[string]float64{"psnr": math.Inf(1), "entropy": math.NaN(), "low": math.Inf(-1)},
		perSample: []map[string]any{{"id": "a", "psnr": math.Inf(1), "losses": []float64{1, math.NaN()}}, {"id": "b", "psnr": 20.0}},
	}
	res, err := Run(context.Background(), task, fakeModel{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := RunDir(cfg, task, res.Model)
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	for _, s := range []string{`"psnr": "Infinity"`, `"entropy": "NaN"`, `"low": "-Infinity"`, `"n": 2`} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("results.json lacks %s:\n%s", s, b)
		}
	}
	rr, err := ReadResult(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(rr.Metrics["psnr"], 1) || !math.IsNaN(rr.Metrics["entropy"]) || !math.IsInf(rr.Metrics["low"], -1) || rr.Metrics["n"] != 2 {
		t.Errorf("read back %v", rr.Metrics)
	}
	s, _ := os.ReadFile(filepath.Join(dir, "samples.jsonl"))
	if want := `{"id":"a","losses":[1,"NaN"],"psnr":"Infinity"}` + "\n" + `{"id":"b","psnr":20}` + "\n"; string(s) != want {
		t.Errorf("samples.jsonl\n%s, want\n%s", s, want)
	}
	// A plain json.Unmarshal into Result reads the same.
	var r2 Result
	if err := json.Unmarshal(b, &r2); err != nil || !math.IsInf(r2.Metrics["psnr"], 1) {
		t.Errorf("json.Unmarshal: %v %v", r2.Metrics, err)
	}
}
