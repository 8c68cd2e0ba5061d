package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

	// The text tokenizer: beside the weights, else the tower folder's.
	tc, _ := cfg["siglip_config"].(map[string]any)["text_config"].(map[string]any)
	vocab := int(tc["vocab_size"].(float64))
	beside, besideTok := filepath.Join(dir, "spiece.model"), filepath.Join(dir, "tokenizer.model")
	ours, err := os.ReadFile(beside)
	if err != nil {
		t.Fatal(err)
	}
	build := func() *DualToken {
		t.Helper()
		m, err := bench.NewModel(bench.ModelSpec{Name: "dt", Kind: "dualtoken", Path: dir}, be)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*DualToken)
	}
	rules := func(d *DualToken) string {
		if d.tok == nil {
			return "none: " + d.TextError().Error()
		}
		return d.tok.Rules()
	}
	os.Remove(beside)
	if err := build().TextError(); err == nil || !strings.Contains(err.Error(), "in its tower's folder "+tower) || strings.Contains(err.Error(), "\n") {
		t.Errorf("no tokenizer anywhere: TextError %v, want one line naming the tower folder %s", err, tower)
	}
	towerTok := filepath.Join(tower, "tokenizer.model")
	tokenizertest.WriteGemmaLikeSized(t, towerTok, vocab)
	d := build()
	if rules(d) != "siglip2" || d.Info().TokenizerSHA256 == "" {
		t.Errorf("tokenizer.model in the tower's folder only: rules %s, identity %+v", rules(d), d.Info())
	}
	fromTower := d.Info().TokenizerSHA256

	// A foreign tokenizer beside the weights is passed over for the tower's.
	tokenizertest.WriteForeign(t, besideTok)
	if d := build(); rules(d) != "siglip2" || d.Info().TokenizerSHA256 != fromTower {
		t.Errorf("foreign tokenizer.model beside the weights: rules %s, identity %+v (want the tower's %s)", rules(d), d.Info(), fromTower)
	}
	// So is one that loads but is not the text tower's size (an LLM's
	// with eos </s>), for the tower's that is.
	os.Remove(besideTok)
	tokenizertest.WriteGemmaLike(t, besideTok) // 10 pieces, not the tower's
	if d := build(); rules(d) != "siglip2" || d.Info().TokenizerSHA256 != fromTower {
		t.Errorf("a tokenizer beside the weights of another size: identity %+v, want the tower's %s", d.Info(), fromTower)
	}
	// Both of the tower's size: the one beside the weights wins (SigLIP's
	// spiece.model before tokenizer.model there too).
	os.Remove(besideTok)
	writeFile(t, beside, ours)
	tokenizertest.WriteGemmaLikeSized(t, besideTok, vocab)
	if d := build(); rules(d) != "siglip" || d.Info().TokenizerSHA256 == fromTower {
		t.Errorf("spiece.model of the tower's size beside the weights: rules %s, identity %+v; want it, not the tower's", rules(d), d.Info())
	}
	// Both refused: one line naming both files.
	os.Remove(beside)
	tokenizertest.WriteForeign(t, besideTok)
	tokenizertest.WriteForeign(t, towerTok)
	if err := build().TextError(); err == nil || !strings.Contains(err.Error(), besideTok) || !strings.Contains(err.Error(), towerTok) || strings.Contains(err.Error(), "\n") {
		t.Errorf("both tokenizers foreign: TextError %v, want one line naming %s and %s", err, besideTok, towerTok)
	}
}
