package weights

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Set is a named collection of tensors: one file, a sharded checkpoint, or a
// .pth state dict.
type Set interface {
	Names() []string
	Has(name string) bool
	Get(name string) (*Tensor, error)
	Close() error
}

// Open opens a checkpoint: a directory (see CheckpointIn), a .safetensors
// file, a sharded index .json, or a PyTorch .pth/.pt/.bin/.ckpt file.
func Open(path string) (Set, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if st.IsDir() {
		p, err := CheckpointIn(path)
		if err != nil {
			return nil, err
		}
		return Open(p)
	}
	switch {
	case strings.HasSuffix(path, ".safetensors"):
		return OpenSafetensors(path)
	case strings.HasSuffix(path, ".index.json"):
		return OpenSharded(path)
	case strings.HasSuffix(path, ".pth"), strings.HasSuffix(path, ".pt"), strings.HasSuffix(path, ".bin"), strings.HasSuffix(path, ".ckpt"):
		return OpenPth(path)
	}
	return nil, fmt.Errorf("checkpoint %s: unknown format (want .safetensors, .safetensors.index.json, .pth/.pt/.bin/.ckpt or a directory)", path)
}

// checkpointNames are the weight files a checkpoint folder is looked up by,
// in order: HF's safetensors, its sharded index, HF's PyTorch file.
var checkpointNames = []string{"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"}

// torchExts are the PyTorch checkpoint suffixes taken from a folder holding
// exactly one such file (a torch.save state dict under any name, as the
// released weights of the reference code come).
var torchExts = []string{".pth", ".pt", ".bin", ".ckpt"}

// CheckpointIn returns the weight file of the checkpoint folder dir:
// model.safetensors, model.safetensors.index.json, pytorch_model.bin, or else
// the folder's one weight file: a single .safetensors (a checkpoint saved
// under its own name), else a single .pth/.pt/.bin/.ckpt (a torch.save state
// dict, as the released weights of the reference code come; a Trainer's
// training_args.bin, optimizer.pt, scheduler.pt and rng_state*.pth are not
// weights).
// golden.safetensors, a parity fixture's outputs, is never taken for the
// weights; otherwise the error says what was looked for and what is there.
func CheckpointIn(dir string) (string, error) {
	for _, name := range checkpointNames {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err == nil && !st.IsDir() {
			return p, nil
		}
		if _, lerr := os.Lstat(p); lerr == nil && err != nil {
			return "", fmt.Errorf("checkpoint folder %s: %s is a link to a missing file (%v)", dir, name, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("checkpoint folder %s: %w", dir, err)
	}
	var torch, safe, golden []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		n := e.Name()
		switch {
		case notWeights(n):
		case slices.ContainsFunc(torchExts, func(ext string) bool { return strings.HasSuffix(n, ext) }):
			torch = append(torch, n)
		case n == "golden.safetensors":
			golden = append(golden, n)
		case strings.HasSuffix(n, ".safetensors"):
			safe = append(safe, n)
		}
	}
	switch {
	case len(safe) == 1: // safetensors first, as Hugging Face loads
		return filepath.Join(dir, safe[0]), nil
	case len(torch) == 1 && len(safe) == 0:
		return filepath.Join(dir, torch[0]), nil
	}
	msg := fmt.Sprintf("checkpoint folder %s has no model.safetensors (looked for %s, or a single .safetensors, else a single .pth/.pt/.bin/.ckpt file)",
		dir, strings.Join(checkpointNames, ", "))
	switch {
	case len(torch)+len(safe) > 1:
		msg += fmt.Sprintf("; it has %d weight files (%s): pass the one to load", len(torch)+len(safe), strings.Join(append(safe, torch...), ", "))
	case len(golden) > 0:
		msg += "; golden.safetensors (a parity fixture's outputs) is not taken as the checkpoint"
	}
	return "", errors.New(msg)
}

// notWeights reports PyTorch files a training run leaves beside its weights
// (Hugging Face Trainer's arguments, optimiser, scheduler and RNG states).
func notWeights(name string) bool {
	switch {
	case name == "training_args.bin", name == "optimizer.pt", name == "scheduler.pt", name == "scaler.pt":
		return true
	case strings.HasPrefix(name, "rng_state") && strings.HasSuffix(name, ".pth"):
		return true
	}
	return false
}

// Sharded is a checkpoint split over several safetensors files by an index
// {"weight_map": {tensor: file}}.
type Sharded struct {
	Index string
	files map[string]*SafetensorsFile
	owner map[string]string
	names []string
}

// OpenSharded opens every shard named in the index.
func OpenSharded(indexPath string) (*Sharded, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: not a valid index: %v", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: field weight_map is missing or empty", indexPath)
	}
	s := &Sharded{Index: indexPath, files: map[string]*SafetensorsFile{}, owner: idx.WeightMap}
	dir := filepath.Dir(indexPath)
	for name, file := range idx.WeightMap {
		// Shards live beside the index: a name reaching elsewhere ("../x",
		// "/etc/...", "") is a corrupt or hostile index, not a file to open.
		if !filepath.IsLocal(file) {
			s.Close()
			return nil, fmt.Errorf("%s: weight_map[%q] = %q, expected a file name inside %s", indexPath, name, file, dir)
		}
		if _, ok := s.files[file]; !ok {
			f, err := OpenSafetensors(filepath.Join(dir, file))
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("%s: shard for %q: %w", indexPath, name, err)
			}
			s.files[file] = f
		}
		if !s.files[file].Has(name) {
			s.Close()
			return nil, fmt.Errorf("%s: index maps %q to %s, which does not hold it", indexPath, name, file)
		}
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s, nil
}

func (s *Sharded) Names() []string      { return s.names }
func (s *Sharded) Has(name string) bool { _, ok := s.owner[name]; return ok }
func (s *Sharded) Get(name string) (*Tensor, error) {
	file, ok := s.owner[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", s.Index, name)
	}
	return s.files[file].Get(name)
}
func (s *Sharded) Close() error {
	for _, f := range s.files {
		f.Close()
	}
	return nil
}

// MemSet is an in-memory Set, used for tests and for tensors loaded from .pth.
type MemSet struct {
	Source  string
	tensors map[string]*Tensor
}

// NewMemSet builds a Set from tensors.
func NewMemSet(source string, ts ...*Tensor) *MemSet {
	m := &MemSet{Source: source, tensors: map[string]*Tensor{}}
	for _, t := range ts {
		if t.Source == "" {
			t.Source = source
		}
		m.tensors[t.Name] = t
	}
	return m
}

// Add inserts or replaces a tensor.
func (m *MemSet) Add(t *Tensor) {
	if t.Source == "" {
		t.Source = m.Source
	}
	m.tensors[t.Name] = t
}

func (m *MemSet) Names() []string {
	out := make([]string, 0, len(m.tensors))
	for n := range m.tensors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
func (m *MemSet) Has(name string) bool { _, ok := m.tensors[name]; return ok }
func (m *MemSet) Get(name string) (*Tensor, error) {
	t, ok := m.tensors[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", m.Source, name)
	}
	return t, nil
}
func (m *MemSet) Close() error { return nil }

// Prefixed views the tensors of s under prefix with the prefix removed, e.g.
// Prefixed(s, "rqvaesiglip.") for a wrapped state dict.
type Prefixed struct {
	Set
	Prefix string
}

func (p Prefixed) Names() []string {
	var out []string
	for _, n := range p.Set.Names() {
		if strings.HasPrefix(n, p.Prefix) {
			out = append(out, n[len(p.Prefix):])
		}
	}
	return out
}
func (p Prefixed) Has(name string) bool             { return p.Set.Has(p.Prefix + name) }
func (p Prefixed) Get(name string) (*Tensor, error) { return p.Set.Get(p.Prefix + name) }
