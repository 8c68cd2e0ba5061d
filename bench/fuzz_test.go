package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadResult feeds results.json arbitrary bytes: ReadResult must refuse
// them with one line naming the file, or give a result that `check` and
// `report` can trust — every metric with its direction, consistent counts,
// a predictions file beside it — and that writes and reads back the same.
//
//	go test -run '^$' -fuzz '^FuzzReadResult$' -fuzztime 60s -fuzzminimizetime 200x -parallel 1 ./bench
func FuzzReadResult(f *testing.F) {
	f.Add([]byte(goodResult))
	f.Add([]byte(`{"schema":1,"task":"t","metrics":{"a":"NaN","b":-0},"higher_is_better":{"a":true,"b":false}}`))
	f.Add([]byte(`{"schema":1,"task":"t","metrics":{"a":1,"a":2},"higher_is_better":{"a":true}}`))
	f.Add([]byte(`{"schema":2,"SCHEMA":1}`))
	f.Add([]byte(`{"schema":1,"task":"t","metrics":{"a":1e999},"n_samples":{"total":-1}}`))
	dir := f.TempDir()
	path := filepath.Join(dir, "results.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResult(path, b)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line naming %s: %q", path, msg)
			}
			return
		}
		if r.Schema != ResultsSchema || r.Task == "" || len(r.Metrics) == 0 {
			t.Fatalf("accepted schema %d, task %q, %d metrics", r.Schema, r.Task, len(r.Metrics))
		}
		for m := range r.Metrics {
			if _, ok := r.HigherIsBetter[m]; !ok {
				t.Fatalf("metric %q accepted without a direction", m)
			}
		}
		if n := r.NSamples; n.Scored+n.Failed != n.Total || n.Scored < 0 || n.Failed < 0 {
			t.Fatalf("counts %+v accepted", n)
		}
		if p := r.Predictions; p != "" && filepath.Join(dir, p) != filepath.Join(dir, filepath.Base(p)) {
			t.Fatalf("predictions %q leaves the folder", p)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted result does not write: %v", err)
		}
		r2, err := parseResult(path, out)
		if err != nil {
			t.Fatalf("written result does not read back: %v\n%s", err, out)
		}
		for m, v := range r.Metrics {
			if w := r2.Metrics[m]; w != v && !(math.IsNaN(v) && math.IsNaN(w)) {
				t.Fatalf("metric %q: %v read back as %v", m, v, w)
			}
		}
	})
}

// FuzzLoadRecords feeds a predictions file arbitrary bytes: LoadRecords
// must refuse it with an error naming the file, or give records with an id
// and a prediction or error each; and once the runner has repaired its
// tail, records appended to it read back with the others.
//
//	go test -run '^$' -fuzz '^FuzzLoadRecords$' -fuzztime 60s -fuzzminimizetime 200x -parallel 1 ./bench
func FuzzLoadRecords(f *testing.F) {
	f.Add([]byte(`{"id":"a","pred":"a"}` + "\n" + `{"id":"b","error":"unreadable"}` + "\n"))
	f.Add([]byte(`{"id":"a","pred":{"raw":"yes","losses":[1,"NaN"]}}` + "\n" + `{"id":"b","pr`))
	f.Add([]byte(`{"id":"a","pred":1}` + "\r\n\n" + `{"id":"a","pred":1}`))
	f.Add([]byte(`{"id":"a","pred":1}` + "\n" + `{"id":"a","pred":2}` + "\n"))
	f.Add([]byte("\x00\x00\n{\"id\":\"\"}"))
	dir := f.TempDir()
	path := filepath.Join(dir, "predictions-x.jsonl")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		recs, tail, err := loadRecords(path)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, path+":") {
				t.Fatalf("error does not name %s: %q", path, msg)
			}
			return
		}
		for id, r := range recs {
			if id == "" || r.ID != id || !r.hasPred() && r.Error == "" {
				t.Fatalf("record %q accepted: %+v", id, r)
			}
		}
		if err := repairTail(path, tail, io.Discard); err != nil {
			t.Fatal(err)
		}
		fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		added := Record{ID: "\x00appended", Pred: json.RawMessage(`"new"`)}
		line, _ := json.Marshal(added)
		fh.Write(append(line, '\n'))
		fh.Close()
		again, err := LoadRecords(path)
		if err != nil {
			if _, had := recs[added.ID]; !had {
				t.Fatalf("after the repair and an append: %v", err)
			}
			return // the file had a different record of that id already
		}
		if len(again) != len(recs)+1 && recs[added.ID].ID == "" {
			t.Fatalf("%d records after appending one to %d", len(again), len(recs))
		}
		for id, r := range recs {
			if a := again[id]; a.ID != id || !bytes.Equal(a.Pred, r.Pred) || a.Error != r.Error {
				t.Fatalf("record %q changed by the repair: %+v, was %+v", id, a, r)
			}
		}
	})
}
