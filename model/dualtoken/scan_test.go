package dualtoken

import (
	"fmt"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/dualtoken/evalharness/backend/backendtest"
	"github.com/dualtoken/evalharness/model/precision"
)

// TestScanLayersForward runs the tokenizer's forward (tower, quantisers,
// decoder, rest of the tower and head) with the tower's layers unrolled and
// as loops between the taps (Tower.Vision.ScanLayers), for the wirings of
// the ablation rows: codes must be identical, every float output within
// 1e-5, the tapped states equal and the untapped ones absent; with the
// layers stacked in the graph and reading the tower's stacked copy
// (siglip.Model.SetScanLayers, loops over runs of one stack).
func TestScanLayersForward(t *testing.T) {
	variants := map[string]func(fc *FullConfig){
		"semantic":             nil,
		"no semantic branch":   func(fc *FullConfig) { fc.SemanticBranch = false },
		"recon from semantic":  func(fc *FullConfig) { fc.ReconFromSemantic, fc.LayerRecon, fc.LayerShortcut = true, fc.LayerSem, 0 },
		"shortcut above recon": func(fc *FullConfig) { fc.LayerShortcut, fc.SemanticBranch = fc.LayerRecon+2, false },
	}
	for name, mutate := range variants {
		for _, prestacked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/prestacked=%v", name, prestacked), func(t *testing.T) { scanForward(t, mutate, prestacked) })
		}
	}
}

func scanForward(t *testing.T, mutate func(fc *FullConfig), prestacked bool) {
	m := tinyModel(t, mutate)
	b := backendtest.ForLoops(t)
	px := randomPixels(2, 32, 7)
	run := func(scan bool) ([]*tensors.Tensor, []string, []bool, int) {
		fc := *m.Config
		tower := *fc.Tower
		tower.Vision.ScanLayers = scan
		fc.Tower = &tower
		var names []string
		var present []bool
		whiles := 0
		res, err := model.ExecOnceN(b, m.Store, func(root *model.Scope, x *Node) []*Node {
			o := Forward(root, &fc, x, Options{Pooled: true, Decode: true})
			names = nil
			var outs []*Node
			add := func(n string, v *Node) {
				if v != nil {
					names, outs = append(names, n), append(outs, v)
				}
			}
			add("pix codes", o.Pix.Codes)
			add("sem codes", o.Sem.Codes)
			add("pix input", o.PixInput)
			add("sem state", o.SemState)
			add("pooled", o.Pooled)
			add("last", o.Last)
			add("images", o.Decoded.Images)
			for i, h := range o.Hidden {
				present = append(present, h != nil)
				add(fmt.Sprintf("hidden %d", i), h)
			}
			for _, n := range x.Graph().Nodes() {
				if n.Type() == NodeTypeWhile {
					whiles++
				}
			}
			return outs
		}, px)
		if err != nil {
			t.Fatal(err)
		}
		return res, names, present, whiles
	}
	want, wantNames, _, w0 := run(false)
	if prestacked {
		if err := m.Siglip().SetScanLayers(true); err != nil {
			t.Fatal(err)
		}
		if m.Siglip().StackedBytes() == 0 {
			t.Fatal("no stacked copy")
		}
	}
	got, gotNames, present, w1 := run(true)
	if w0 != 0 || w1 == 0 {
		t.Errorf("While nodes: %d unrolled, %d scanned; want 0 and some", w0, w1)
	}
	taps := towerTaps(m.Config, Options{Pooled: true}, m.Config.SemanticBranch, len(present)-1)
	t.Logf("taps %v, %d loops", taps, w1)
	for i, p := range present {
		isTap := i == 0
		for _, tp := range taps {
			isTap = isTap || tp == i
		}
		if p != isTap {
			t.Errorf("scanned hidden %d present = %v, want %v (taps %v)", i, p, isTap, taps)
		}
	}
	byName := map[string]*tensors.Tensor{}
	for i, n := range wantNames {
		byName[n] = want[i]
	}
	for i, n := range gotNames {
		w := byName[n]
		if w == nil {
			t.Errorf("%s: not produced unrolled", n)
			continue
		}
		if got[i].DType().IsInt() {
			a, b := fmt.Sprint(tensors.MustCopyFlatData[int64](got[i])), fmt.Sprint(tensors.MustCopyFlatData[int64](w))
			if a != b {
				t.Errorf("%s differ between scanned and unrolled", n)
			}
			continue
		}
		if d := maxAbsDiff(t, got[i], w); d > 1e-5 {
			t.Errorf("%s: scanned differs from unrolled by %.3g", n, d)
		}
	}
}

// TestSetDTypeKeepsStackedCopy: SetDType after the tower's layer-loop copy
// was made (siglip.Model.SetScanLayers) remakes that copy in the new dtype,
// so a looped forward runs and gives the codes of the other order.
func TestSetDTypeKeepsStackedCopy(t *testing.T) {
	b := backendtest.ForLoops(t)
	px := randomPixels(2, 32, 7)
	codes := func(scanFirst bool) string {
		m := tinyModel(t, nil)
		steps := []func() error{func() error { return m.Siglip().SetScanLayers(true) }, func() error { return m.SetDType(precision.BF16) }}
		if !scanFirst {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			if err := s(); err != nil {
				t.Fatal(err)
			}
		}
		fc := m.Config
		res, err := model.ExecOnceN(b, m.Store, func(root *model.Scope, x *Node) []*Node {
			return []*Node{Forward(root, fc, x, Options{}).Pix.Codes}
		}, px)
		if err != nil {
			t.Fatalf("scan first %v: %v", scanFirst, err)
		}
		return fmt.Sprint(res[0].Value())
	}
	if a, z := codes(true), codes(false); a != z {
		t.Errorf("codes differ with the order of SetScanLayers and SetDType:\n%s\n%s", a, z)
	}
}
