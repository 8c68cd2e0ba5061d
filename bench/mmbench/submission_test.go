package mmbench

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa/qatest"
)

// LLaVA's upload header for the released files: the TSV's columns less hint,
// category, source, image, comment and l2-category, prediction 7th.
var (
	devHeader  = []string{"index", "question", "A", "B", "C", "D", "prediction", "answer", "split"}
	testHeader = []string{"index", "question", "A", "B", "C", "D", "prediction", "split"}
)

// tsvTable reads a TSV as written by WriteDemo (no quoting).
func tsvTable(t *testing.T, path string) (head []string, rows []map[string]string, order []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	head = strings.Split(lines[0], "\t")
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		m := map[string]string{}
		for i, h := range head {
			m[h] = f[i]
		}
		rows = append(rows, m)
		order = append(order, m["index"])
	}
	return head, rows, order
}

// mainsFirst rewrites the TSV as VLMEvalKit's files list it, every main row
// and then every pass, so that the file's order is not the items' (grouped
// by question).
func mainsFirst(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, DemoFile)
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var mains, passes []string
	for _, l := range lines[1:] {
		if len(strings.Split(l, "\t")[0]) < 7 {
			mains = append(mains, l)
		} else {
			passes = append(passes, l)
		}
	}
	out := strings.Join(append(append(lines[:1], mains...), passes...), "\n") + "\n"
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dropAnswers rewrites the TSV without its answer column (a test split).
func dropAnswers(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, DemoFile)
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	col := -1
	for i, h := range strings.Split(lines[0], "\t") {
		if h == "answer" {
			col = i
		}
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		lines[i] = strings.Join(append(f[:col:col], f[col+1:]...), "\t")
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readXLSX reads an upload file back: its one sheet's rows (trailing empty
// cells padded to the header's width) and whether every index cell is a
// number.
func readXLSX(t *testing.T, path string) (rows [][]string, numericIndex bool) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if sheets := f.GetSheetList(); !reflect.DeepEqual(sheets, []string{"Sheet1"}) {
		t.Errorf("sheets %v, want [Sheet1] (pandas' to_excel)", sheets)
	}
	rows, err = f.GetRows("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	numericIndex = true
	for r := 2; r <= len(rows); r++ {
		ct, err := f.GetCellType("Sheet1", "A"+strconv.Itoa(r))
		if err != nil {
			t.Fatal(err)
		}
		numericIndex = numericIndex && (ct == excelize.CellTypeNumber || ct == excelize.CellTypeUnset)
	}
	for i := range rows {
		for len(rows[i]) < len(rows[0]) {
			rows[i] = append(rows[i], "")
		}
	}
	return rows, numericIndex
}

func export(t *testing.T, task bench.Task, pred, path string, sel bench.Selection) string {
	t.Helper()
	var log bytes.Buffer
	if err := bench.ExportSubmission(task, pred, sel, path, &log); err != nil {
		t.Fatal(err)
	}
	return log.String()
}

// A dev run by the oracle: the file holds every TSV row in the file's order
// (passes as their own rows), the LLaVA columns, each row's prediction its
// own answer letter; the index is a number, and a 3-option row has no D.
func TestSubmissionDevFile(t *testing.T) {
	dir := demo(t, true)
	mainsFirst(t, dir)
	task := newTask(t, dir, nil)
	if !task.Scorable() {
		t.Fatal("a dev TSV with answers is not scorable")
	}
	cfg := bench.RunConfig{OutDir: t.TempDir()}
	o := oracle(t, task, false)
	if _, err := bench.Run(t.Context(), task, o, cfg); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dev.xlsx")
	if log := export(t, task, bench.PredictionsPath(cfg, task, o.Info()), out, bench.Selection{}); log != "" {
		t.Errorf("notices for a complete dev run: %q", log)
	}
	rows, numeric := readXLSX(t, out)
	_, tsv, order := tsvTable(t, filepath.Join(dir, DemoFile))
	if !reflect.DeepEqual(rows[0], devHeader) {
		t.Fatalf("header %q, want %q", rows[0], devHeader)
	}
	items, _ := task.Items()
	if len(rows)-1 != len(tsv) || len(tsv) != len(items) {
		t.Fatalf("%d rows, TSV %d, items %d", len(rows)-1, len(tsv), len(items))
	}
	var got []string
	for i, row := range rows[1:] {
		got = append(got, row[0])
		want := tsv[i]
		for j, h := range devHeader {
			if h != "prediction" && row[j] != want[h] {
				t.Errorf("row %d (index %s) %s = %q, TSV %q", i+2, want["index"], h, row[j], want[h])
			}
		}
		if row[6] != want["answer"] {
			t.Errorf("index %s: prediction %q, want its answer %q", want["index"], row[6], want["answer"])
		}
	}
	if !reflect.DeepEqual(got, order) {
		t.Errorf("index order %v, want the TSV's %v", got, order)
	}
	if items[1].ID == order[1] {
		t.Errorf("test data: item order equals the file's")
	}
	if !numeric {
		t.Error("index cells are not numbers")
	}
	if rows[3][0] != "2" || rows[3][5] != "" || rows[3][4] == "" {
		t.Errorf("3-option row %q: want C set, D empty", rows[3])
	}

	// --limit 8 (two whole questions): on a split with answers, the file
	// holds those items' rows, in the file's order.
	lim := filepath.Join(t.TempDir(), "lim.xlsx")
	export(t, task, bench.PredictionsPath(cfg, task, o.Info()), lim, bench.Selection{Limit: 8})
	rows, _ = readXLSX(t, lim)
	var ids []string
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	var want []string // the TSV's order, questions 0 and 1
	for _, id := range order {
		if g := id[len(id)-1:]; g == "0" || g == "1" {
			want = append(want, id)
		}
	}
	if !reflect.DeepEqual(ids, want) || len(want) != 8 {
		t.Errorf("limit 8: indices %v, want %v", ids, want)
	}
}

// The prediction is the raw answer, trimmed, not the letter read from it.
func TestSubmissionRawPrediction(t *testing.T) {
	task := newTask(t, demo(t, true), map[string]string{"circular": "false"})
	cfg := bench.RunConfig{OutDir: t.TempDir()}
	m := qatest.Const{Text: "  B. because \"it\" is\tblue\n"}
	if _, err := bench.Run(t.Context(), task, m, cfg); err != nil {
		t.Fatal(err)
	}
	pred := bench.PredictionsPath(cfg, task, m.Info())
	out := filepath.Join(t.TempDir(), "raw.xlsx")
	export(t, task, pred, out, bench.Selection{})
	rows, _ := readXLSX(t, out)
	if len(rows) != 7 {
		t.Fatalf("%d rows, want header + 6 main rows (circular=false, a split with answers)", len(rows))
	}
	for _, r := range rows[1:] {
		if r[6] != "B. because \"it\" is\tblue" {
			t.Errorf("index %s: prediction %q", r[0], r[6])
		}
	}
	// The same table as TSV, every field quoted.
	var b, log bytes.Buffer
	items, _ := task.Items()
	recs := loadRecs(t, pred, items)
	if err := task.SubmissionTo("x.TSV", items, recs, &b, &log); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(b.Bytes()))
	cr.Comma = '\t'
	back, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("TSV: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(back, rows) {
		t.Errorf("TSV %q\nxlsx %q", back, rows)
	}
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, `"`) || !strings.HasSuffix(l, `"`) || strings.Count(l, "\"\t\"") != len(rows[0])-1 {
			t.Errorf("TSV line not fully quoted: %q", l)
		}
	}
}

func loadRecs(t *testing.T, pred string, items []bench.Item) []bench.Record {
	t.Helper()
	cached, err := bench.LoadRecords(pred)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]bench.Record, len(items))
	for i, it := range items {
		recs[i] = cached[it.ID]
	}
	return recs
}

// A test split (no answer column): not scorable, the run records the share
// answered, and the file holds every row, with no answer column; failed
// items and rows not asked have an empty prediction, each said once.
func TestSubmissionTestSplit(t *testing.T) {
	dir := demo(t, true)
	dev := newTask(t, dir, nil)
	o := oracle(t, dev, false) // the prompts do not show the answer
	mainsFirst(t, dir)
	dropAnswers(t, dir)
	task := newTask(t, dir, nil)
	if task.Scorable() || !bench.SubmissionOnly(task) {
		t.Fatal("a TSV without answers is scorable")
	}
	task.images[1] = "bm90IGFuIGltYWdl"                    // question 1's 4 passes fail
	cfg := bench.RunConfig{OutDir: t.TempDir(), Limit: 11} // questions 0–2
	res, err := bench.Run(t.Context(), task, o, cfg)
	if err != nil {
		t.Fatalf("run on a test split: %v", err)
	}
	if res.NSamples.Total != 11 || res.NSamples.Failed != 4 || res.Metrics["answered"] != 100*7.0/11 {
		t.Errorf("results %+v %v", res.NSamples, res.Metrics)
	}
	out := filepath.Join(t.TempDir(), "test.xlsx")
	log := export(t, task, bench.PredictionsPath(cfg, task, o.Info()), out, bench.Selection{Limit: 11})
	rows, numeric := readXLSX(t, out)
	if !reflect.DeepEqual(rows[0], testHeader) {
		t.Fatalf("header %q, want %q", rows[0], testHeader)
	}
	_, devRows, order := tsvTable(t, filepath.Join(demo(t, true), DemoFile))
	answer := map[string]string{}
	for _, r := range devRows {
		answer[r["index"]] = r["answer"]
	}
	var got []string
	asked := map[string]bool{"0": true, "1": true, "2": true}
	for _, r := range rows[1:] {
		got = append(got, r[0])
		g := r[0][len(r[0])-1:] // the question: index mod 1e6 (< 10 here)
		want := answer[r[0]]
		if !asked[g] || g == "1" {
			want = ""
		}
		if r[6] != want {
			t.Errorf("index %s: prediction %q, want %q", r[0], r[6], want)
		}
	}
	if len(got) != len(order) || !numeric {
		t.Errorf("%d rows for %d in the TSV (numeric index %v)", len(got), len(order), numeric)
	}
	if strings.Count(log, "\n") != 2 || !strings.Contains(log, "4 items failed") || !strings.Contains(log, "11 of the 22 rows") {
		t.Errorf("notices %q", log)
	}
}

// Passes generated here are not rows of the TSV: the file holds the TSV's
// rows with their first pass's prediction, and says so.
func TestSubmissionGeneratedPasses(t *testing.T) {
	dir := demo(t, false)
	task := newTask(t, dir, nil)
	cfg := bench.RunConfig{OutDir: t.TempDir()}
	o := oracle(t, task, false)
	if _, err := bench.Run(t.Context(), task, o, cfg); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "gen.xlsx")
	log := export(t, task, bench.PredictionsPath(cfg, task, o.Info()), out, bench.Selection{})
	rows, _ := readXLSX(t, out)
	if len(rows) != 7 || !strings.Contains(log, "the 16 passes generated here are not in the submission") {
		t.Fatalf("%d rows, notices %q", len(rows), log)
	}
	for i, r := range rows[1:] {
		if want := []string{"A", "B", "C", "D", "A", "C"}[i]; r[0] != strconv.Itoa(i) || r[6] != want {
			t.Errorf("row %q, want index %d predicted %s", r, i, want)
		}
	}
}

// The TSV read again at export must still hold every row asked; records
// must match items.
func TestSubmissionBadInput(t *testing.T) {
	dir := demo(t, true)
	task := newTask(t, dir, nil)
	cfg := bench.RunConfig{OutDir: t.TempDir()}
	m := qatest.Const{Text: "A"}
	if _, err := bench.Run(t.Context(), task, m, cfg); err != nil {
		t.Fatal(err)
	}
	items, _ := task.Items()
	recs := loadRecs(t, bench.PredictionsPath(cfg, task, m.Info()), items)
	var b bytes.Buffer
	if err := task.Submission(items, recs[1:], &b, nil); err == nil || !strings.Contains(err.Error(), "21 records for 22 items") {
		t.Errorf("short records: %v", err)
	}
	path := filepath.Join(dir, DemoFile)
	orig, _ := os.ReadFile(path)
	lines := strings.Split(string(orig), "\n")
	os.WriteFile(path, []byte(strings.Join(append(lines[:2:2], lines[3:]...), "\n")), 0o644) // row of index 1000000 gone
	if err := task.Submission(items, recs, &b, nil); err == nil || !strings.Contains(err.Error(), path+": index 1000000, which was asked, is no longer in the file") {
		t.Errorf("row removed since the run: %v", err)
	}
	os.Remove(path)
	if err := task.Submission(items, recs, &b, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("TSV gone: %v", err)
	}
}
