package recon

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/bench"
)

// TestScoreRejectsCorruptRecords: size fields that would allocate gigabytes
// of counters or a huge covariance, codes outside the codebook, and records
// of different shapes are errors naming the item.
func TestScoreRejectsCorruptRecords(t *testing.T) {
	rec := func(p pred) json.RawMessage {
		b, _ := json.Marshal(p)
		return b
	}
	codes := bench.PackInt32([]int32{0, 1, 2, 3})
	feat := bench.PackFloat32([]float32{1, 2})
	ok := pred{PSNR: 30, Codes: codes, Depth: 2, K: 16, FeatRef: feat, FeatRec: feat}
	for name, c := range map[string]struct {
		b    pred
		want string
	}{
		"huge codebook":  {pred{Codes: codes, Depth: 1, K: 1 << 40}, "item b.png: codes of depth 1 from a codebook of 1099511627776"},
		"huge depth":     {pred{Codes: codes, Depth: 1 << 30, K: 2}, "item b.png: codes of depth 1073741824"},
		"code range":     {pred{Codes: bench.PackInt32([]int32{0, 16}), Depth: 2, K: 16, FeatRef: feat, FeatRec: feat}, "item b.png: code 1 is 16, outside the codebook [0, 16)"},
		"partial depth":  {pred{Codes: bench.PackInt32([]int32{0, 1, 2}), Depth: 2, K: 16}, "item b.png: 3 codes are not whole positions of depth 2"},
		"other depth":    {pred{Codes: codes, Depth: 4, K: 16, FeatRef: feat, FeatRec: feat}, "item b.png: codes of depth 4 from a codebook of 16, want 2 and 16"},
		"feature sizes":  {pred{Codes: codes, Depth: 2, K: 16, FeatRef: bench.PackFloat32([]float32{1}), FeatRec: feat}, "item b.png: feat_ref has 1 values and feat_rec 2"},
		"other features": {pred{Codes: codes, Depth: 2, K: 16, FeatRef: bench.PackFloat32([]float32{1, 2, 3}), FeatRec: bench.PackFloat32([]float32{1, 2, 3})}, "item b.png: 3 features, want 2"},
		"huge features":  {pred{FeatRef: bench.PackFloat32(make([]float32, maxFeatureDim+1)), FeatRec: bench.PackFloat32(make([]float32, maxFeatureDim+1))}, "item b.png: 16385 features per image"},
		"no features":    {pred{Codes: codes, Depth: 2, K: 16}, "item b.png has no rFID features"},
		"no codes":       {pred{FeatRef: feat, FeatRec: feat}, "item b.png has no codes"},
	} {
		items := []bench.Item{{ID: "a.png", Payload: "a.png"}, {ID: "b.png", Payload: "b.png"}}
		recs := []bench.Record{{ID: "a.png", Pred: rec(ok)}, {ID: "b.png", Pred: rec(c.b)}}
		if _, err := (&Task{}).Score(items, recs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}
