package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/model/lpips"
	"github.com/dualtoken/evalharness/model/weights"
)

// TestDualTokenLPIPSFromWeightFiles: the training path with LPIPS read from
// two files in the official layouts (torchvision's VGG16 names, the lpips
// package's lin heads; here with the formula weights, the real ones cannot
// be downloaded): every tensor lands in the store under /lpips, frozen, and a
// step of row c reports an LPIPS term while those weights stay put.
func TestDualTokenLPIPSFromWeightFiles(t *testing.T) {
	dir := t.TempDir()
	w := lpips.FormulaWeights(lpips.StateDictSpecs())
	var vggT, linT []*weights.Tensor
	for _, name := range w.Names() {
		x, err := w.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "lin") {
			linT = append(linT, x)
		} else {
			vggT = append(vggT, x)
		}
	}
	vgg, lin := filepath.Join(dir, lpips.VGGFile+".safetensors"), filepath.Join(dir, lpips.LinFile+".safetensors")
	if err := weights.WriteSafetensors(vgg, vggT, nil); err != nil {
		t.Fatal(err)
	}
	if err := weights.WriteSafetensors(lin, linT, nil); err != nil {
		t.Fatal(err)
	}

	tower := dtTower(t)
	task := dtTask(t, tower, "c", 2)
	task.Weights.LPIPS = 1
	store, err := NewDualTokenStore(task, tower, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadLPIPS(store, vgg, filepath.Join(dir, "missing.pth")); err == nil || !strings.Contains(err.Error(), "missing.pth") {
		t.Fatalf("a missing head file must be named: %v", err)
	}
	if err := LoadLPIPS(store, vgg, lin); err != nil {
		t.Fatal(err)
	}
	n := 0
	for v := range store.RootScope().At(LPIPSScope).IterVariables() {
		n++
		if v.Trainable {
			t.Errorf("%s is trainable", v.Path())
		}
	}
	if want := len(vggT) + len(linT); n != want {
		t.Errorf("%d LPIPS variables in the store, want one per file tensor (%d)", n, want)
	}
	lpipsStep(t, task, store, "/lpips/features.28/kernel")
}
