package metrics

import (
	"math"
	"strings"
	"testing"
	"time"
)

// Indices int64 cannot number the circular passes of: 1e18 and above sent
// MMBenchCircularize's offset loop (×10 until above every index) into
// overflow and an endless loop; a negative index's passes (index + i·1e6)
// land on other rows' indices; 9e17 with 26 options overflowed into
// negative pass indices.
func TestMMBenchCircularizeChecked(t *testing.T) {
	q := func(idx int64, n int) MMBenchRow {
		opts := make([]string, n)
		for i := range opts {
			opts[i] = strings.Repeat("o", i+1)
		}
		return MMBenchRow{Index: idx, Choices: mmbChoices(opts...), Answer: "A"}
	}
	for _, c := range []struct {
		name string
		rows []MMBenchRow
		want string
	}{
		{"negative", []MMBenchRow{q(-5, 2), q(999995, 2)}, "mmbench: index -5 is negative"},
		{"1e18", []MMBenchRow{q(1, 2), q(1e18, 2)}, "mmbench: index 1000000000000000000 is too large"},
		{"max int64", []MMBenchRow{q(math.MaxInt64, 4)}, "mmbench: index 9223372036854775807 is too large"},
		{"passes beyond int64", []MMBenchRow{q(9e17, 26)}, "mmbench: index 900000000000000000 is too large: its 25 circular passes, index + i·1000000000000000000, go beyond int64"},
		{"twice", []MMBenchRow{q(3, 2), q(3, 2)}, "mmbench: index 3 appears twice"},
	} {
		// Both forms return (the unchecked one with no pass index overflowed).
		done := make(chan []MMBenchRow, 1)
		var err error
		go func() {
			_, err = MMBenchCircularizeChecked(c.rows)
			done <- MMBenchCircularize(c.rows)
		}()
		select {
		case out := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v, want %q", c.name, err, c.want)
			}
			for _, r := range out {
				if r.Index < 0 && r.Index != r.GIndex {
					t.Errorf("%s: pass of %d numbered %d", c.name, r.GIndex, r.Index)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still running after 10 s", c.name)
		}
	}
	// The largest that fit: 10^18 - 1 with 9 options (8 passes of 10^18
	// each stay below 2^63 ≈ 9.22e18); a 10th option does not.
	out, err := MMBenchCircularizeChecked([]MMBenchRow{q(0, 2), q(1e18-1, 9)})
	if err != nil || len(out) != 11 || out[10].Index != 1e18-1+8e18 {
		t.Errorf("largest: %d rows, %v", len(out), err)
	}
	if _, err := MMBenchCircularizeChecked([]MMBenchRow{q(1e18-1, 10)}); err == nil {
		t.Error("10 options at 10^18 - 1 accepted")
	}
	// Same rows as the unchecked form otherwise.
	rows := []MMBenchRow{q(7, 4), q(1500000, 2)}
	want := MMBenchCircularize(rows)
	got, err := MMBenchCircularizeChecked(rows)
	if err != nil || len(got) != len(want) || len(got) != 6 {
		t.Fatalf("%d rows, want %d: %v", len(got), len(want), err)
	}
	for i := range got {
		if got[i].Index != want[i].Index || got[i].Answer != want[i].Answer || got[i].GIndex != want[i].GIndex {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
