package reports

import (
	"bytes"
	"encoding/json"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

func sample() []*bench.Result {
	mk := func(model, task string, m map[string]float64, hib bool) *bench.Result {
		h := map[string]bool{}
		for k := range m {
			h[k] = hib
		}
		r := &bench.Result{Schema: 1, Task: task, TaskVersion: 1, Protocol: map[string]any{"split": "val"}, Metrics: m, HigherIsBetter: h}
		r.Model.Name = model
		r.NSamples = bench.NSamples{Total: 10, Scored: 10}
		return r
	}
	return []*bench.Result{
		mk("ckpt-step-100", "imagenet-zeroshot", map[string]float64{"top1": 70.5, "top5": 90}, true),
		mk("ckpt-step-100", "recon", map[string]float64{"rfid_clean": 2.5, "psnr": 24.1, "ssim": 0.61}, true),
		mk("ckpt-step-200", "imagenet-zeroshot", map[string]float64{"top1": 75.25, "top5": 92}, true),
		mk("ckpt-step-200", "recon", map[string]float64{"rfid_clean": 1.5, "psnr": 25.3, "ssim": 0.65}, true),
	}
}

func TestTableDeltaAgainstPaper(t *testing.T) {
	tab := Build(Tables()[0], sample(), map[string]string{"ckpt-step-200": "DualToken (SigLIP-So/14-384)"})
	var ours, delta *Row
	for i, r := range tab.Rows {
		if r.Model == "ckpt-step-200" && r.Source == "ours" {
			ours = &tab.Rows[i]
		}
		if r.Model == "ckpt-step-200" && r.Source == "delta" {
			delta = &tab.Rows[i]
		}
	}
	if ours == nil || delta == nil {
		t.Fatalf("rows: %+v", tab.Rows)
	}
	// Paper: ZS 82.0, PSNR 28.69 for DualToken So/14-384.
	if d := delta.Cells["ZS"].Value; math.Abs(d-(75.25-82.0)) > 1e-9 {
		t.Errorf("ZS delta %v", d)
	}
	if d := delta.Cells["PSNR"].Value; math.Abs(d-(25.3-28.69)) > 1e-9 {
		t.Errorf("PSNR delta %v", d)
	}
	if delta.Cells["T2I"].Set {
		t.Errorf("delta without our value")
	}
	var buf bytes.Buffer
	if err := tab.Render(&buf, "markdown"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "-6.75") || !strings.Contains(buf.String(), "split=val") {
		t.Errorf("markdown lacks delta or protocol note:\n%s", buf.String())
	}
}

func TestReportRendersNonBlankPlots(t *testing.T) {
	dir := t.TempDir()
	rep, err := Make(sample(), Options{OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Plots) < 3 {
		t.Fatalf("only %d plots", len(rep.Plots))
	}
	for _, p := range rep.Plots {
		for _, f := range p.Files {
			st, err := os.Stat(f)
			if err != nil || st.Size() == 0 {
				t.Fatalf("%s: %v", f, err)
			}
			if !strings.HasSuffix(f, ".png") {
				continue
			}
			fh, _ := os.Open(f)
			img, _, err := image.Decode(fh)
			fh.Close()
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			b := img.Bounds()
			if b.Dx() < 300 || b.Dy() < 200 {
				t.Errorf("%s: %v too small", f, b)
			}
			// Not blank: more than one distinct colour, and some dark pixels.
			colours := map[uint32]bool{}
			for y := b.Min.Y; y < b.Max.Y; y += 3 {
				for x := b.Min.X; x < b.Max.X; x += 3 {
					r, g, bb, _ := img.At(x, y).RGBA()
					colours[r>>8<<16|g>>8<<8|bb>>8] = true
				}
			}
			if len(colours) < 3 {
				t.Errorf("%s looks blank (%d colours)", f, len(colours))
			}
		}
	}
	for _, name := range []string{"index.html", "report.md", "report.csv", "report.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !strings.Contains(string(html), "figure1_zs_vs_rfid.png") || !strings.Contains(string(html), "<table") {
		t.Errorf("html lacks plots or tables")
	}
}

// A table whose models ran a task with different protocols says so under
// the table, model by model; one protocol gives one line.
func TestTableNotesPerModelProtocol(t *testing.T) {
	a := mkResult("tiny-a", "recon", map[string]float64{"psnr": 20, "rfid_clean": 2, "ssim": 0.5})
	b := mkResult("tiny-b", "recon", map[string]float64{"psnr": 21, "rfid_clean": 1, "ssim": 0.6})
	c := mkResult("tiny-c", "recon", map[string]float64{"psnr": 22, "rfid_clean": 1, "ssim": 0.7})
	a.Protocol = map[string]any{"jpeg": "q95"}
	b.Protocol = map[string]any{"jpeg": "none"}
	c.Protocol = map[string]any{"jpeg": "q95"}
	notes := func(rs ...*bench.Result) []string {
		var out []string
		for _, n := range Build(Tables()[0], rs, nil).Notes {
			if strings.HasPrefix(n, "Our protocol") {
				out = append(out, n)
			}
		}
		return out
	}
	got := notes(a, b, c)
	want := []string{
		"Our protocol — recon (differs by model; tiny-a, tiny-c): v1, jpeg=q95, n=1",
		"Our protocol — recon (differs by model; tiny-b): v1, jpeg=none, n=1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("differing protocols:\n got %q\nwant %q", got, want)
	}
	if got := notes(a, c); len(got) != 1 || got[0] != "Our protocol — recon: v1, jpeg=q95, n=1" {
		t.Errorf("same protocol: %q", got)
	}
	// The rendered markdown report carries both under Table 1.
	rep, err := Make([]*bench.Result{a, b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.Tables[0].Render(&buf, "markdown"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "tiny-a): v1, jpeg=q95") || !strings.Contains(buf.String(), "tiny-b): v1, jpeg=none") {
		t.Errorf("table 1 notes:\n%s", buf.String())
	}
}

// A --match naming a model no result has, or a paper row no table has, is
// an error that names it and lists the known ones.
func TestMatchesMustExist(t *testing.T) {
	rs := sample()
	if err := CheckMatches(rs, map[string]string{"ckpt-step-200": "DualToken (SigLIP-So/14-384)"}); err != nil {
		t.Errorf("good match: %v", err)
	}
	for _, c := range []struct {
		matches map[string]string
		want    []string
	}{
		{map[string]string{"ckpt-step-200": "NoSuchPaperRow"}, []string{`no paper row "NoSuchPaperRow"`, `"DualToken (SigLIP-So/14-384)"`, `"LLaVA-1.5 7B"`}},
		{map[string]string{"nomodel": "MoVQGAN"}, []string{`no result has model "nomodel"`, `"ckpt-step-100", "ckpt-step-200"`}},
	} {
		err := CheckMatches(rs, c.matches)
		if err == nil {
			t.Errorf("%v accepted", c.matches)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v lacks %s", c.matches, err, w)
			}
		}
		if _, err := Make(rs, Options{Matches: c.matches}); err == nil {
			t.Errorf("Make accepted %v", c.matches)
		}
	}
}

// Table 4 prints MME normalised: our perception sum goes in as a share of
// its 2000-point maximum, so the delta is in the paper's unit.
func TestTable4MMENormalised(t *testing.T) {
	var spec TableSpec
	for _, s := range Tables() {
		if s.ID == "table4" {
			spec = s
		}
	}
	r := &bench.Result{Schema: 1, Task: "mme", Metrics: map[string]float64{"perception": 1290}, HigherIsBetter: map[string]bool{"perception": true}}
	r.Model.Name = "ours-d"
	tab := Build(spec, []*bench.Result{r}, map[string]string{"ours-d": "(d) DualToken semantic+pixel"})
	var ours, delta float64
	for _, row := range tab.Rows {
		switch {
		case row.Model == "ours-d" && row.Source == "ours":
			ours = row.Cells["MME"].Value
		case row.Source == "delta":
			delta = row.Cells["MME"].Value
		}
	}
	if math.Abs(ours-64.5) > 1e-9 || math.Abs(delta-(64.5-64.6)) > 1e-9 {
		t.Errorf("table4 MME: ours %v, delta %v; want 64.5 and -0.1", ours, delta)
	}
}

// An MME total over only some subtasks stays out of the paper tables, with
// a note saying so.
func TestIncompleteMMELeftOut(t *testing.T) {
	r := &bench.Result{Schema: 1, Task: "mme", Metrics: map[string]float64{"perception": 245.8}, HigherIsBetter: map[string]bool{"perception": true},
		Protocol: map[string]any{"complete": false}}
	r.Model.Name = "tiny"
	for _, spec := range Tables() {
		tab := Build(spec, []*bench.Result{r}, nil)
		for _, row := range tab.Rows {
			if c, ok := row.Cells["MME"]; ok && c.Set && row.Source == "ours" {
				t.Errorf("%s: incomplete MME shown as %v", spec.ID, c.Value)
			}
		}
		found := false
		for _, n := range tab.Notes {
			found = found || strings.Contains(n, "mme on tiny: not every subtask was run")
		}
		hasMME := false
		for _, c := range spec.Columns {
			hasMME = hasMME || c.Task == "mme"
		}
		if hasMME != found {
			t.Errorf("%s: note present %v, MME column %v", spec.ID, found, hasMME)
		}
	}
}

// TestTableJSONCarriesSchema: one table rendered alone (ablation's
// table3.json) has the schema version beside the table's own fields.
func TestTableJSONCarriesSchema(t *testing.T) {
	tab := Table{ID: "t3", Title: "Table 3", Labels: []string{"ZS"}, Rows: []Row{}, Notes: []string{"n"}}
	var buf bytes.Buffer
	if err := tab.Render(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["schema"] != 1.0 || got["id"] != "t3" || got["title"] != "Table 3" || got["columns"] == nil || got["rows"] == nil || got["notes"] == nil {
		t.Errorf("table JSON %s: want schema 1 beside id, title, columns, rows and notes", buf.String())
	}
}
