package mmvet

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
	"github.com/dualtoken/evalharness/metrics"
	"github.com/dualtoken/evalharness/world"
)

const seed = 13

func demo(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDemo(dir, seed, 400, n, 16); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTask(t *testing.T, dir string, extra map[string]string) *Task {
	return qatest.NewTask[*Task](t, New, dir, extra)
}

// rightAnswer is what the oracle says for a ground truth: its first
// alternative, parts joined by spaces ("red<AND>circle" → "red circle").
func rightAnswer(gt string) string {
	alt, _, _ := strings.Cut(gt, "<OR>")
	return strings.Join(strings.Split(alt, "<AND>"), " ")
}

func oracle(t *testing.T, task *Task) *qatest.Oracle {
	return qatest.OracleFor(t, task, task.query, func(it bench.Item) string { return rightAnswer(it.Payload.(question).Answer) })
}

// judge is a loopback chat-completions server grading "1.0" exactly when
// the prediction is rightAnswer(GT), read from the grader prompt's last row
// "Q | GT | Pred | ".
type judge struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []map[string]any
}

func newJudge(t *testing.T) *judge {
	j := &judge{}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "bad request", 400)
			return
		}
		j.mu.Lock()
		j.requests = append(j.requests, req)
		j.mu.Unlock()
		content := req["messages"].([]any)[0].(map[string]any)["content"].(string)
		content = strings.TrimSuffix(content, metrics.MMVetRetrySuffix)
		row := content[strings.LastIndex(content, "\n")+1:]
		cells := strings.Split(row, " | ")
		gt := strings.NewReplacer(" <AND> ", "<AND>", " <OR> ", "<OR>").Replace(cells[1])
		score := "0.0"
		if cells[2] == rightAnswer(gt) {
			score = "1.0"
		}
		json.NewEncoder(w).Encode(map[string]any{"model": req["model"],
			"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": score}}}})
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *judge) n() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.requests)
}

func (j *judge) opts(t *testing.T, extra map[string]string) map[string]string {
	o := map[string]string{"judge_url": j.srv.URL + "/v1", "judge_cache": t.TempDir(), "judge_model": "grader-x"}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func TestDemoLayoutLoads(t *testing.T) {
	task := newTask(t, demo(t, 4), nil)
	items, _ := task.Items()
	if len(items) != 4 {
		t.Fatalf("%d items", len(items))
	}
	s := world.Generate(seed, 402)
	for i, it := range items {
		q := it.Payload.(question)
		if it.ID != "v1_"+string(rune('0'+i)) || q.ImageName != it.ID+".png" {
			t.Errorf("item %d: %s %s", i, it.ID, q.ImageName)
		}
		if _, err := os.Stat(q.Path); err != nil {
			t.Error(err)
		}
		if task.query(it).Prompt != q.Question {
			t.Errorf("prompt %q, want the question alone", task.query(it).Prompt)
		}
	}
	if q := items[2].Payload.(question); q.Answer != s.Color+"<AND>"+s.Shape || strings.Join(q.Capabilities, ",") != "rec,gen" {
		t.Errorf("item 2: %+v", q)
	}
}

func TestOracleWithLoopbackJudgeResumes(t *testing.T) {
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t, 2), map[string]string{"judge_model": "m", "grader_runs": "5"}), New)
	qatest.CheckProtocolRoundTrip(t, newTask(t, demo(t, 2), map[string]string{"grader": "substring"}), New)
	j := newJudge(t)
	task := newTask(t, demo(t, 4), j.opts(t, map[string]string{"grader_runs": "2"}))
	res := qatest.CheckResume(t, task, oracle(t, task))
	for _, k := range []string{"total", "cap/rec", "cap/math", "cap/gen", "cap/know", "set/rec_gen"} {
		if res.Metrics[k] != 100 {
			t.Errorf("%s = %v", k, res.Metrics[k])
		}
	}
	if res.Metrics["std"] != 0 || res.HigherIsBetter["std"] || !res.HigherIsBetter["total"] {
		t.Errorf("std %v", res.Metrics["std"])
	}
	// 4 items × 2 grading runs, asked once: the three scorings share the cache.
	if j.n() != 8 {
		t.Errorf("judge asked %d times, want 8", j.n())
	}
	r := j.requests[0]
	if r["model"] != "grader-x" || r["max_tokens"] != 3.0 || r["temperature"] != 0.0 {
		t.Errorf("judge request %v", r)
	}
	if p := task.Protocol(); p["judge_model"] != "grader-x" || p["grader_runs"] != 2 || p["judge_url"] != nil {
		t.Errorf("protocol %v", p)
	}
}

func TestAlwaysYesScoresZero(t *testing.T) {
	j := newJudge(t)
	res := qatest.Run(t, newTask(t, demo(t, 4), j.opts(t, nil)), qatest.Const{Text: "yes"})
	if res.Metrics["total"] != 0 || res.Metrics["cap/rec"] != 0 {
		t.Errorf("%v", res.Metrics)
	}
}

// Without a judge, scoring fails with instructions and the answers stay
// cached: configuring the judge then grades without running the model.
func TestNoJudgeKeepsPredictions(t *testing.T) {
	t.Setenv(metrics.JudgeEnvURL, "")
	t.Setenv(metrics.JudgeEnvModel, "")
	dir := demo(t, 4)
	cache := t.TempDir()
	task := newTask(t, dir, map[string]string{"judge_cache": cache})
	o := oracle(t, task)
	cfg := bench.RunConfig{OutDir: t.TempDir()}
	_, err := bench.Run(context.Background(), task, o, cfg)
	if err == nil || !strings.Contains(err.Error(), metrics.JudgeEnvURL) || !strings.Contains(err.Error(), "grader=substring") {
		t.Fatalf("error %v", err)
	}
	recs, err := bench.LoadRecords(bench.PredictionsPath(cfg, task, o.Info()))
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d cached predictions, %v", len(recs), err)
	}
	j := newJudge(t)
	t.Setenv(metrics.JudgeEnvURL, j.srv.URL+"/v1")
	again := o.Clone(0)
	res, err := bench.Run(context.Background(), newTask(t, dir, map[string]string{"judge_cache": cache}), again, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Calls() != 0 || res.Run.Cached != 4 || res.Metrics["total"] != 100 {
		t.Errorf("regrade: %d model calls, %+v, %v", again.Calls(), res.Run, res.Metrics)
	}
}

func TestSubstringGrader(t *testing.T) {
	for _, c := range []struct {
		gt, pred string
		want     float64
	}{
		{"2<OR>two", "There are Two shapes.", 1}, {"red<AND>circle", "a red square", 0.5},
		{"red<AND>circle", "A RED CIRCLE", 1}, {"plain<OR>solid", "striped", 0}, {"plain<OR>solid", "solid", 1},
	} {
		if got := SubstringScore(c.gt, c.pred); got != c.want {
			t.Errorf("SubstringScore(%q, %q) = %v, want %v", c.gt, c.pred, got, c.want)
		}
	}
	task := newTask(t, demo(t, 4), map[string]string{"grader": "substring"})
	if res := qatest.Run(t, task, oracle(t, task)); res.Metrics["total"] != 100 {
		t.Errorf("oracle: %v", res.Metrics)
	}
	if task.Protocol()["judge_model"] != nil {
		t.Errorf("substring protocol names a judge: %v", task.Protocol())
	}
}

func TestMalformedFiles(t *testing.T) {
	dir := demo(t, 3)
	path := filepath.Join(dir, FileName)
	orig, _ := os.ReadFile(path)
	check := func(what, body, want string) {
		t.Helper()
		os.WriteFile(path, []byte(body), 0o644)
		if _, err := New(bench.Options{Data: dir}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", what, err, want)
		}
	}
	check("no question", strings.Replace(string(orig), `"question":`, `"query":`, 1), path+": item v1_0: want fields \"question\"")
	check("no imagename", strings.Replace(string(orig), `"imagename":"v1_1.png",`, "", 1), path+`: item v1_1: field "imagename" is missing`)
	check("not an object", "[]", path+": want a JSON object")
}

// An unreadable image scores 0 without asking the judge.
func TestUnreadableImageIsACountedFailure(t *testing.T) {
	dir := demo(t, 4)
	j := newJudge(t)
	task := newTask(t, dir, j.opts(t, nil))
	o := oracle(t, task)
	os.WriteFile(filepath.Join(dir, "images", "v1_1.png"), []byte("GIF89a"), 0o644)
	res := qatest.Run(t, task, o)
	if res.NSamples.Failed != 1 || res.Metrics["total"] != 75 || res.Metrics["cap/rec"] != 75 || j.n() != 3 {
		t.Errorf("%+v %v, judge asked %d times", res.NSamples, res.Metrics, j.n())
	}
}
