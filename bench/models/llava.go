package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/model/llava"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/tokenizer"
)

// llavaOptions are the llava kind's options (ModelSpec.Extra); NewLlava
// reads them through this declaration, which `evalrun run` checks first.
var llavaOptions = []bench.OptionDoc{
	{Key: "max_batch", Help: "most questions decoded together (not part of the identity)", Default: "8", Int: true, Min: 1},
}

func init() {
	bench.RegisterModelOptions("llava", llavaOptions...)
	bench.RegisterModelType("llava", (*Llava)(nil))
	bench.RegisterModel("llava", func(spec bench.ModelSpec, b compute.Backend) (bench.Model, error) {
		return NewLlava(spec, b)
	})
}

// Llava is a LLaVA-style composition (model/llava) as an Answerer.
type Llava struct {
	Model *llava.Model
	info  bench.ModelInfo
}

// NewLlava loads spec.Path (a LLaVA folder: config.json with model_type
// "llava" naming the vision tower, projector and language model). Options:
// spec.Tokenizer replaces the config's tokenizer; spec.Extra["max_batch"]
// bounds the questions decoded together (default 8; not part of the
// identity). An unknown option or a bad value is an error
// (bench.CheckModelOptions on llavaOptions).
func NewLlava(spec bench.ModelSpec, b compute.Backend) (*Llava, error) {
	if err := bench.CheckModelOptions(spec); err != nil {
		return nil, err
	}
	cfg, err := llava.LoadConfig(spec.Path)
	if err != nil {
		return nil, err
	}
	if spec.Tokenizer != "" {
		cfg.Tokenizer = spec.Tokenizer
	}
	maxBatch, _, err := spec.IntOption("max_batch") // checked: >= 1, default 8
	if err != nil {
		return nil, err
	}
	info, err := LlavaIdentity(spec, cfg)
	if err != nil {
		return nil, err
	}
	dt, err := specDType(spec)
	if err != nil {
		return nil, err
	}
	m, err := llava.LoadFrom(b, cfg)
	if err != nil {
		return nil, err
	}
	if err := m.SetDType(dt); err != nil {
		return nil, fmt.Errorf("model %s: %w", spec.Path, err)
	}
	info.DType = precision.Name(dt)
	m.MaxBatch = maxBatch
	return &Llava{Model: m, info: info}, nil
}

// LlavaIdentity hashes what decides a LLaVA's answers: ConfigSHA256 covers
// the LLaVA config.json, the tower's and the language model's config.json,
// the tokenizer file and, when present, the files that set decoding's eos
// ids (the language model's generation_config.json, the tokenizer's
// tokenizer_config.json and generation_config.json); WeightsSHA256 covers
// the tower, projector and language-model checkpoints, a sharded one by its
// index and every shard it names. Without those optional files and shards
// the digests are those of earlier versions, so such caches stay valid.
func LlavaIdentity(spec bench.ModelSpec, cfg *llava.Config) (bench.ModelInfo, error) {
	info := bench.ModelInfo{Name: spec.Name}
	if info.Name == "" {
		info.Name = filepath.Base(filepath.Dir(cfg.Path))
	}
	// The file the model's tokenizer is read from (tokenizer.Load); when
	// there is none, hashing cfg.Tokenizer reports it.
	tok, err := tokenizer.FileIn(cfg.Tokenizer)
	if err != nil {
		tok = cfg.Tokenizer
	}
	if info.ConfigSHA256, err = llavaHashFiles(cfg.Path, filepath.Join(cfg.VisionTower, "config.json"), filepath.Join(cfg.LanguageModel, "config.json"), tok); err != nil {
		return info, err
	}
	// Optional files are named in the digest, so that which of them are
	// present is part of it.
	var extra []string
	for _, p := range []string{filepath.Join(cfg.LanguageModel, "generation_config.json"), filepath.Join(filepath.Dir(tok), "tokenizer_config.json"), filepath.Join(filepath.Dir(tok), "generation_config.json")} {
		if !llavaFileExists(p) || slices.Contains(extra, p) {
			continue
		}
		d, err := fileDigest(p)
		if err != nil {
			return info, err
		}
		extra = append(extra, p, d)
	}
	if len(extra) > 0 {
		lines := []string{info.ConfigSHA256}
		for i := 0; i < len(extra); i += 2 {
			rel, err := filepath.Rel(filepath.Dir(cfg.Path), extra[i])
			if err != nil {
				rel = extra[i]
			}
			lines = append(lines, filepath.ToSlash(rel)+" "+extra[i+1])
		}
		info.ConfigSHA256 = digestOfDigests(lines)
	}
	var ds []string
	for _, p := range []string{cfg.VisionTower, cfg.Projector, cfg.LanguageModel} {
		d, err := checkpointDigests(p)
		if err != nil {
			return info, err
		}
		ds = append(ds, d...)
	}
	info.WeightsSHA256 = digestOfDigests(ds)
	return info, nil
}

func llavaFileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// llavaHashFiles is sha256 over the per-file sha256 digests, in order.
func llavaHashFiles(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		d, err := fileDigest(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", d)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (l *Llava) Info() bench.ModelInfo { return l.info }

func llavaQuery(q bench.Question) llava.Query {
	return llava.Query{Images: q.Images, Prompt: q.Prompt, MaxNewTokens: q.MaxNewTokens}
}

// Answer decodes greedily (LLaVA-1.5's protocol) with the model's chat
// template; MaxNewTokens 0 means 128.
func (l *Llava) Answer(ctx context.Context, qs []bench.Question) ([]string, error) {
	lq := make([]llava.Query, len(qs))
	for i, q := range qs {
		lq[i] = llavaQuery(q)
	}
	return l.Model.Answer(ctx, lq)
}

// MeanNLL is the mean token cross-entropy of each candidate after the
// templated prompt (SEED-Bench's likelihood mode).
func (l *Llava) MeanNLL(ctx context.Context, q bench.Question, candidates []string) ([]float64, error) {
	return l.Model.MeanNLL(ctx, llavaQuery(q), candidates)
}
