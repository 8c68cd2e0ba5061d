package recon

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// FuzzScore feeds Score arbitrary prediction records (a corrupt or
// hand-edited predictions.jsonl) for two images: it must return metrics or
// an error naming the item, never panic, allocate by a corrupt size field or
// pool codes and features of mismatched shapes.
//
//	go test -run '^$' -fuzz '^FuzzScore$' -fuzztime 60s -parallel 1 ./bench/recon
func FuzzScore(f *testing.F) {
	mk := func(codes []int32, depth, k int, ref, rec []float32) []byte {
		p := pred{PSNR: 30, SSIMWang: 0.9, SSIMTorchmetrics: 0.9, Depth: depth, K: k}
		if codes != nil {
			p.Codes = bench.PackInt32(codes)
		}
		if ref != nil {
			p.FeatRef, p.FeatRec = bench.PackFloat32(ref), bench.PackFloat32(rec)
		}
		b, _ := json.Marshal(p)
		return b
	}
	f.Add(mk([]int32{0, 1, 2, 3}, 2, 16, []float32{1, 2}, []float32{1, 3}), mk([]int32{3, 2, 1, 0}, 2, 16, []float32{2, 1}, []float32{0, 1}))
	f.Add(mk([]int32{0, 1, 2}, 2, 4, nil, nil), mk([]int32{0, 1}, 1, 8, []float32{1}, nil))
	f.Add(mk([]int32{-1, 7}, 1, 4, nil, nil), mk(nil, 0, 0, nil, nil))
	f.Add([]byte(`{"psnr": 1, "codes": "AAAAAA==", "depth": 1, "k": 1000000000000}`), []byte(`{"psnr": 1, "codes": "AAAAAA==", "depth": 1000000000, "k": 2}`))
	f.Add([]byte(`{"feat_ref": "AACAPwAAAEA=", "feat_rec": ""}`), []byte(`{"feat_ref": "!!", "codes": "AAA"}`))
	f.Fuzz(func(t *testing.T, predA, predB []byte) {
		items := []bench.Item{{ID: "a.png", Payload: "a.png"}, {ID: "b.png", Payload: "b.png"}}
		recs := []bench.Record{{ID: "a.png", Pred: predA}, {ID: "b.png", Pred: predB}}
		m, err := (&Task{}).Score(items, recs)
		if err != nil {
			if !strings.Contains(err.Error(), "a.png") && !strings.Contains(err.Error(), "b.png") {
				t.Fatalf("error names no item: %v", err)
			}
			return
		}
		var pa, pb pred
		json.Unmarshal(predA, &pa)
		json.Unmarshal(predB, &pb)
		_, hasCodes := m.Values["codebook_usage"]
		if hasCodes && ((pa.Codes != "" && pb.Codes != "" && (pa.Depth != pb.Depth || pa.K != pb.K)) || pa.K > maxCodebookCounters) {
			t.Fatalf("pooled codes of records with different depth/codebook size: %s / %s", predA, predB)
		}
		if _, hasFID := m.Values["rfid_clean"]; hasFID && (len(pa.FeatRef) != len(pb.FeatRef) || len(pa.FeatRef) != len(pa.FeatRec)) {
			t.Fatalf("rFID from features of different sizes: %s / %s", predA, predB)
		}
	})
}
