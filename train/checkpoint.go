package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dualtoken/evalharness/model/weights"
)

// CheckpointFile is the checkpoint's name inside Config.Dir.
const CheckpointFile = "checkpoint.safetensors"

// stateKey is the safetensors metadata key holding the State JSON.
const stateKey = "train_state"

// State is the non-tensor part of a checkpoint.
type State struct {
	Format            int        `json:"format"` // 1
	Done              int        `json:"done"`   // steps taken
	ConfigFingerprint string     `json:"config_fingerprint"`
	TaskFingerprint   string     `json:"task_fingerprint"`
	Variables         []VarState `json:"variables"`
}

// VarState records how to restore one store variable.
type VarState struct {
	Path      string `json:"path"`
	DType     string `json:"dtype"` // the GoMLX dtype (uint64 is stored as I64 bits)
	Trainable bool   `json:"trainable"`
}

// CheckpointPath is where Save writes ("" without a Dir).
func (t *Trainer) CheckpointPath() string {
	if t.Config.Dir == "" {
		return ""
	}
	return filepath.Join(t.Config.Dir, CheckpointFile)
}

// Save writes the checkpoint (no-op without Config.Dir).
func (t *Trainer) Save() error {
	path := t.CheckpointPath()
	if path == "" {
		return nil
	}
	st := State{Format: 1, Done: t.done, ConfigFingerprint: t.Config.fingerprint(), TaskFingerprint: t.task.Fingerprint()}
	var ts []*weights.Tensor
	for v := range t.Store.IterVariables() {
		if !v.HasValue() || isAccumulator(v.Path()) { // accumulators are zero between steps
			continue
		}
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("train: saving %s: %w", v.Path(), err)
		}
		wt, err := toCheckpoint(v.Path(), val)
		if err != nil {
			return fmt.Errorf("train: saving %s: %w", path, err)
		}
		ts = append(ts, wt)
		st.Variables = append(st.Variables, VarState{Path: v.Path(), DType: val.DType().String(), Trainable: v.Trainable})
	}
	meta, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.Config.Dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := weights.WriteSafetensors(path, ts, map[string]string{stateKey: string(meta)}); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// Resume loads Config.Dir's checkpoint when there is one and reports whether
// it did. The checkpoint must come from the same Config and Task
// fingerprints; every variable it holds replaces the store's value (or is
// created: optimizer state), with its trainable flag.
func (t *Trainer) Resume() (bool, error) {
	path := t.CheckpointPath()
	if path == "" {
		return false, nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	f, err := weights.OpenSafetensors(path)
	if err != nil {
		return false, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	var st State
	if err := json.Unmarshal([]byte(f.Metadata[stateKey]), &st); err != nil || st.Format != 1 {
		return false, fmt.Errorf("train: %s: metadata %q is missing or not a format-1 training state (%v)", path, stateKey, err)
	}
	if want := t.Config.fingerprint(); st.ConfigFingerprint != want {
		return false, fmt.Errorf("train: %s was written by a run with other hyper-parameters (fingerprint %s, this run %s); use another --out or the original settings", path, st.ConfigFingerprint, want)
	}
	if want := t.task.Fingerprint(); st.TaskFingerprint != want {
		return false, fmt.Errorf("train: %s was written for another task setup (%s; this run %s)", path, st.TaskFingerprint, want)
	}
	if st.Done > t.Config.Steps {
		return false, fmt.Errorf("train: %s has %d steps done, more than the run's %d", path, st.Done, t.Config.Steps)
	}
	for _, vs := range st.Variables {
		wt, err := f.Get(vs.Path)
		if err != nil {
			return false, fmt.Errorf("train: %s: %w", path, err)
		}
		val, err := fromCheckpoint(wt, vs.DType)
		if err != nil {
			return false, fmt.Errorf("train: %s: %w", path, err)
		}
		if v := t.Store.GetVariable(vs.Path); v != nil {
			if !v.Shape().Equal(val.Shape()) {
				return false, fmt.Errorf("train: %s: variable %s has shape %s, the model's is %s", path, vs.Path, val.Shape(), v.Shape())
			}
			if err := v.SetValue(val); err != nil {
				return false, fmt.Errorf("train: restoring %s: %w", vs.Path, err)
			}
			v.SetTrainable(vs.Trainable)
			continue
		}
		v, err := t.Store.CreateVariable(vs.Path, val)
		if err != nil {
			return false, fmt.Errorf("train: restoring %s: %w", vs.Path, err)
		}
		v.SetTrainable(vs.Trainable)
	}
	t.done = st.Done
	return true, nil
}

func toCheckpoint(name string, t *tensors.Tensor) (*weights.Tensor, error) {
	if t.DType() == dtypes.Uint64 {
		u := tensors.MustCopyFlatData[uint64](t)
		v := make([]int64, len(u))
		for i, x := range u {
			v[i] = int64(x)
		}
		return weights.FromInt64(name, t.Shape().Dimensions, v), nil
	}
	return weights.FromGoMLX(name, t)
}

func fromCheckpoint(wt *weights.Tensor, dtype string) (*tensors.Tensor, error) {
	dims := wt.Shape
	bad := func(err error) (*tensors.Tensor, error) {
		return nil, fmt.Errorf("variable %s (%s): %w", wt.Name, dtype, err)
	}
	switch dtype {
	case dtypes.Float32.String():
		v, err := wt.Float32()
		if err != nil {
			return bad(err)
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case dtypes.Float64.String():
		v, err := wt.Float64()
		if err != nil {
			return bad(err)
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case dtypes.Uint8.String():
		v, err := wt.Uint8()
		if err != nil {
			return bad(err)
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	case dtypes.Int64.String(), dtypes.Int32.String(), dtypes.Uint64.String():
		v, err := wt.Int64()
		if err != nil {
			return bad(err)
		}
		switch dtype {
		case dtypes.Int32.String():
			w := make([]int32, len(v))
			for i, x := range v {
				w[i] = int32(x)
			}
			return tensors.FromFlatDataAndDimensions(w, dims...), nil
		case dtypes.Uint64.String():
			w := make([]uint64, len(v))
			for i, x := range v {
				w[i] = uint64(x)
			}
			return tensors.FromFlatDataAndDimensions(w, dims...), nil
		}
		return tensors.FromFlatDataAndDimensions(v, dims...), nil
	}
	return bad(errors.New("unsupported dtype in a training checkpoint"))
}
