package metrics

import (
	"encoding/binary"
	"testing"
)

// FuzzMMBenchCircularize numbers the passes of questions with arbitrary
// indices and option counts: MMBenchCircularizeChecked must refuse them or
// give every row a distinct index, each pass in its question's group, and
// the unchecked form must give the same rows whenever the checked one does.
//
//	go test -run '^$' -fuzz '^FuzzMMBenchCircularize$' -fuzztime 60s -fuzzminimizetime 200x -parallel 1 ./metrics
func FuzzMMBenchCircularize(f *testing.F) {
	le := func(xs ...int64) []byte {
		b := make([]byte, 9*len(xs))
		for i, x := range xs {
			binary.LittleEndian.PutUint64(b[9*i:], uint64(x))
			b[9*i+8] = byte(i + 2)
		}
		return b
	}
	f.Add(le(0, 1, 999999))
	f.Add(le(-5, 999995))
	f.Add(le(1e18-1, 3))
	f.Add(le(9e17, 1e6))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rows []MMBenchRow
		for ; len(b) >= 9 && len(rows) < 64; b = b[9:] {
			k := int(b[8]%27) + 1 // 1..27 options
			opts := make([]string, k)
			for i := range opts {
				opts[i] = "option " + string(rune('a'+i%26)) + string(rune('a'+i/26))
			}
			rows = append(rows, MMBenchRow{Index: int64(binary.LittleEndian.Uint64(b)), Choices: mmbChoices(opts...), Answer: "A"})
		}
		got, err := MMBenchCircularizeChecked(rows)
		plain := MMBenchCircularize(rows)
		if err != nil {
			return
		}
		groups := map[int64]bool{}
		for _, r := range rows {
			groups[r.Index] = true
		}
		seen := map[int64]bool{}
		for _, r := range got {
			if seen[r.Index] || !r.HasGIndex || !groups[r.GIndex] || r.Index < 0 {
				t.Fatalf("row %d (group %d): repeated, negative or in no question's group", r.Index, r.GIndex)
			}
			seen[r.Index] = true
		}
		if len(plain) != len(got) {
			t.Fatalf("unchecked form gave %d rows, checked %d", len(plain), len(got))
		}
		for i := range got {
			if plain[i].Index != got[i].Index || plain[i].Answer != got[i].Answer {
				t.Fatalf("row %d: unchecked %d/%s, checked %d/%s", i, plain[i].Index, plain[i].Answer, got[i].Index, got[i].Answer)
			}
		}
	})
}
