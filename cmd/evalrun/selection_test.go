package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// A run on a subset or a limit records its selection: score re-scores the
// same items, and check refuses to compare it with a run on other items.
func TestSelectionRescoreAndCheck(t *testing.T) {
	dir, model, opts := tinySiglipImagenet(t, 24)
	runTo := func(out string, extra ...string) *bench.Result {
		t.Helper()
		args := append([]string{"run", "--quiet", "--task", "imagenet-zeroshot", "--data", opts.Data, "--model-kind", "siglip", "--model", model, "--out", out}, extra...)
		if code := run(args); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		r, err := bench.ReadResult(filepath.Join(out, "imagenet-zeroshot", "tiny-siglip", "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	full := filepath.Join(dir, "full")
	all := runTo(full)
	ids := predictionIDs(t, filepath.Join(full, "imagenet-zeroshot", "tiny-siglip", all.Predictions))
	if len(ids) != 24 || all.NSamples.IDsSHA256 == "" || all.Run.Subset != "" || all.Run.Limit != 0 {
		t.Fatalf("full run: %d ids, n_samples %+v, run %+v", len(ids), all.NSamples, all.Run)
	}

	// A subset of 5 items, listed out of order, with a blank line.
	subsetFile := filepath.Join(dir, "subset.txt")
	pick := []string{ids[17], ids[3], "", ids[9], ids[4], ids[20]}
	os.WriteFile(subsetFile, []byte(strings.Join(pick, "\n")), 0o644)
	sub := filepath.Join(dir, "sub")
	first := runTo(sub, "--subset", subsetFile)
	if first.NSamples.Total != 5 || first.Run.Subset == "" || first.NSamples.IDsSHA256 == all.NSamples.IDsSHA256 {
		t.Fatalf("subset run: n_samples %+v, run %+v", first.NSamples, first.Run)
	}
	kept, err := bench.ReadSubsetFile(filepath.Join(sub, "imagenet-zeroshot", "tiny-siglip", first.Run.Subset))
	if err != nil || len(kept) != 5 {
		t.Fatalf("kept subset %v %v", kept, err)
	}
	subRes := filepath.Join(sub, "imagenet-zeroshot", "tiny-siglip", "results.json")
	// score re-scores the run's own five items (it used to ask for all 24).
	if code, _, stderr := runCaptured(t, "score", subRes); code != 0 {
		t.Fatalf("score of a subset run: exit %d: %s", code, stderr)
	}
	again, _ := bench.ReadResult(subRes)
	if again.NSamples != first.NSamples || again.Metrics["top1"] != first.Metrics["top1"] || again.Run.Subset != first.Run.Subset {
		t.Errorf("rescored %+v %v %+v, run %+v %v %+v", again.NSamples, again.Metrics, again.Run, first.NSamples, first.Metrics, first.Run)
	}
	// --all needs predictions the subset run never made.
	if code, _, stderr := runCaptured(t, "score", subRes, "--all"); code != 2 || !strings.Contains(stderr, "no prediction for item") {
		t.Errorf("score --all of a subset run: exit %d, %q", code, stderr)
	}
	// --limit narrows the recorded selection.
	if code := run([]string{"score", subRes, "--limit", "2"}); code != 0 {
		t.Errorf("score --limit 2: exit %d", code)
	}
	if r, _ := bench.ReadResult(subRes); r.NSamples.Total != 2 || r.Run.Limit != 2 {
		t.Errorf("score --limit 2: n_samples %+v, run %+v", r.NSamples, r.Run)
	}
	if code := run([]string{"score", subRes}); code != 0 { // back to the recorded limit 2 and subset
		t.Errorf("score: exit %d", code)
	}

	// check: a subset run against the full run is refused unless allowed.
	code, _, stderr := runCaptured(t, "check", "--baseline", full, "--candidate", sub)
	if code != 2 || !strings.Contains(stderr, "different items") || !strings.Contains(stderr, "24 items (all)") {
		t.Errorf("check full vs subset: exit %d, %q", code, stderr)
	}
	code, stdout, _ := runCaptured(t, "check", "--json", "--allow-different-items", "--baseline", full, "--candidate", sub)
	var doc struct {
		DifferentItems []string `json:"different_items"`
		Rows           []struct{ Note string }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code == 2 || len(doc.DifferentItems) != 1 || len(doc.Rows) == 0 || !strings.Contains(doc.Rows[0].Note, "different items") {
		t.Errorf("check --allow-different-items: exit %d, %+v, %v", code, doc, err)
	}

	// The same count on other items is told apart by the IDs' digest.
	lim := filepath.Join(dir, "lim")
	runTo(lim, "--limit", "2")
	if code, _, stderr := runCaptured(t, "check", "--baseline", lim, "--candidate", sub); code != 2 || !strings.Contains(stderr, "limit 2") {
		t.Errorf("check limit 2 vs subset limit 2: exit %d, %q", code, stderr)
	}
	// Two runs on the same items compare as before.
	runTo(filepath.Join(dir, "sub2"), "--subset", subsetFile, "--limit", "2")
	if code := run([]string{"check", "--baseline", sub, "--candidate", filepath.Join(dir, "sub2")}); code != 0 {
		t.Errorf("check of two runs on the same subset: exit %d", code)
	}
}

func predictionIDs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var rec struct{ ID string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	return ids
}
