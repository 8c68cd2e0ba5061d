package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/tokenizer/tokenizertest"
)

// A DualToken checkpoint in the authors' layout reads its tower's config
// from rqvaesiglip.pretrained_model, outside its folder: that file is part
// of the identity, so editing it changes the cache key.
func TestDualTokenExternalTowerConfigInIdentity(t *testing.T) {
	dir := extractAsset(t, "tiny-dualtoken")
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil || json.Unmarshal(b, &cfg) != nil {
		t.Fatalf("config.json: %v", err)
	}
	tower := filepath.Join(filepath.Dir(dir), "siglip-tower")
	os.MkdirAll(tower, 0o755)
	writeTower := func(extra map[string]any) {
		tc := map[string]any{}
		for k, v := range cfg["siglip_config"].(map[string]any) {
			tc[k] = v
		}
		for k, v := range extra {
			tc[k] = v
		}
		b, _ := json.Marshal(tc)
		os.WriteFile(filepath.Join(tower, "config.json"), b, 0o644)
	}
	writeTower(nil)
	authors := map[string]any{}
	for k, v := range cfg {
		authors[k] = v
	}
	delete(authors, "siglip_config")
	rq, _ := authors["rqvaesiglip"].(map[string]any)
	if rq == nil {
		t.Fatalf("tiny-dualtoken's config has no rqvaesiglip section: %v", cfg)
	}
	rq["pretrained_model"] = "siglip-tower"
	b, _ = json.Marshal(authors)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)

	be, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	info := func() bench.ModelInfo {
		m, err := bench.NewModel(bench.ModelSpec{Name: "dt", Kind: "dualtoken", Path: dir}, be)
		if err != nil {
			t.Fatal(err)
		}
		return m.Info()
	}
	first := info()
	if first.TowerConfigSHA256 == "" {
		t.Fatal("no tower_config_sha256 for a tower config outside the checkpoint")
	}
	writeTower(map[string]any{"note": "edited"})
	if again := info(); again.TowerConfigSHA256 == first.TowerConfigSHA256 {
		t.Error("editing the tower's config.json left the identity unchanged")
	}

	// Without a tokenizer beside the weights, the tower's folder's
	// (SigLIP2's tokenizer.model there) gives the texts and their rules.
	if err := os.Remove(filepath.Join(dir, "spiece.model")); err != nil {
		t.Fatal(err)
	}
	m, err := bench.NewModel(bench.ModelSpec{Name: "dt", Kind: "dualtoken", Path: dir}, be)
	if err != nil {
		t.Fatal(err)
	}
	if m.(*DualToken).TextError() == nil {
		t.Fatal("no tokenizer anywhere, yet the model embeds texts")
	}
	tokenizertest.WriteGemmaLike(t, filepath.Join(tower, "tokenizer.model"))
	m, err = bench.NewModel(bench.ModelSpec{Name: "dt", Kind: "dualtoken", Path: dir}, be)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.(*DualToken); d.TextError() != nil || d.tok == nil || d.tok.Rules() != "siglip2" || m.Info().TokenizerSHA256 == "" {
		t.Errorf("tokenizer.model in the tower's folder: TextError %v, tokenizer %v, identity %+v", d.TextError(), d.tok, m.Info())
	}
	towerTok := m.Info().TokenizerSHA256

	// A foreign tokenizer beside the weights (an LLM's, say) is passed
	// over for the tower's.
	tokenizertest.WriteForeign(t, filepath.Join(dir, "tokenizer.model"))
	m, err = bench.NewModel(bench.ModelSpec{Name: "dt", Kind: "dualtoken", Path: dir}, be)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.(*DualToken); d.TextError() != nil || d.tok == nil || d.tok.Rules() != "siglip2" || m.Info().TokenizerSHA256 != towerTok {
		t.Errorf("foreign tokenizer.model beside the weights: TextError %v, tokenizer %v, identity %+v (want the tower's %s)", d.TextError(), d.tok, m.Info(), towerTok)
	}
}
