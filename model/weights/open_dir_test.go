package weights

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

// TestOpenDirLayouts: a checkpoint folder is read from model.safetensors, the
// sharded index, pytorch_model.bin or its single weight file, and never from
// golden.safetensors (a parity fixture's outputs beside the config once
// passed for the weights, failing later on a missing tensor).
func TestOpenDirLayouts(t *testing.T) {
	pth, err := os.ReadFile(filepath.Join(fixtures.Dir(t, "pth"), "state_dict.pth"))
	if err != nil {
		t.Fatal(err)
	}
	st := func(dir, name, tensor string) {
		t.Helper()
		if err := WriteSafetensors(filepath.Join(dir, name), []*Tensor{FromFloat32(tensor, []int{1}, []float32{1})}, nil); err != nil {
			t.Fatal(err)
		}
	}
	file := func(dir, name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opens := func(dir, want string) {
		t.Helper()
		p, err := CheckpointIn(dir)
		if err != nil || p != filepath.Join(dir, want) {
			t.Errorf("CheckpointIn(%s) = %q, %v; want %s", dir, p, err, want)
			return
		}
		s, err := Open(dir)
		if err != nil {
			t.Errorf("Open(%s): %v", dir, err)
			return
		}
		if len(s.Names()) == 0 {
			t.Errorf("Open(%s) has no tensors", dir)
		}
		s.Close()
	}

	hf := t.TempDir() // model.safetensors wins over the golden file beside it
	st(hf, "model.safetensors", "w")
	st(hf, "golden.safetensors", "out")
	opens(hf, "model.safetensors")

	sharded := t.TempDir()
	st(sharded, "model-00001-of-00001.safetensors", "w")
	file(sharded, "model.safetensors.index.json", []byte(`{"weight_map":{"w":"model-00001-of-00001.safetensors"}}`))
	st(sharded, "golden.safetensors", "out")
	opens(sharded, "model.safetensors.index.json")

	hfTorch := t.TempDir()
	file(hfTorch, "pytorch_model.bin", pth)
	file(hfTorch, "optimizer.pt", pth)
	opens(hfTorch, "pytorch_model.bin")

	released := t.TempDir() // a torch.save state dict under its own name
	file(released, "pt_inception-2015-12-05-6726825d.pth", pth)
	file(released, "config.json", []byte(`{}`))
	opens(released, "pt_inception-2015-12-05-6726825d.pth")

	golden := t.TempDir()
	file(golden, "config.json", []byte(`{}`))
	st(golden, "golden.safetensors", "out")
	_, err = Open(golden)
	wantErr(t, err, golden, "has no model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", ".pth", "golden.safetensors (a parity fixture's outputs) is not taken as the checkpoint")

	own := t.TempDir() // a checkpoint saved under its own name, beside a golden file
	st(own, "weights.safetensors", "w")
	st(own, "golden.safetensors", "out")
	opens(own, "weights.safetensors")

	mixed := t.TempDir() // the safetensors first, as Hugging Face loads
	st(mixed, "adapter_model.safetensors", "w")
	file(mixed, "a.pth", pth)
	opens(mixed, "adapter_model.safetensors")

	trainer := t.TempDir() // a Trainer's states are not weights
	file(trainer, "released.pth", pth)
	file(trainer, "training_args.bin", []byte("x"))
	file(trainer, "optimizer.pt", []byte("x"))
	file(trainer, "rng_state_0.pth", []byte("x"))
	opens(trainer, "released.pth")

	twoSafe := t.TempDir()
	st(twoSafe, "a.safetensors", "w")
	st(twoSafe, "b.safetensors", "w")
	_, err = Open(twoSafe)
	wantErr(t, err, twoSafe, "2 weight files (a.safetensors, b.safetensors): pass the one to load")

	broken := t.TempDir()
	if err := os.Symlink(filepath.Join(broken, "gone.safetensors"), filepath.Join(broken, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(broken)
	wantErr(t, err, broken, "model.safetensors is a link to a missing file")

	two := t.TempDir()
	file(two, "a.pth", pth)
	file(two, "b.pth", pth)
	_, err = Open(two)
	wantErr(t, err, two, "has no model.safetensors", "2 weight files (a.pth, b.pth)")

	empty := t.TempDir()
	_, err = Open(empty)
	wantErr(t, err, empty, "has no model.safetensors", "a single .safetensors, else a single .pth/.pt/.bin/.ckpt file")
}
