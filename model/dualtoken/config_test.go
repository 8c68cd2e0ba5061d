package dualtoken

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// authorsConfig builds a config.json in the authors' released layout (the
// outer RQVAESIGLIPTransformer config with a "rqvaesiglip" section) for a
// grid, depth and output resolution, as model_config_siglip_{384_rvq8,256_rvq4}.
func authorsConfig(grid, depth, res int) map[string]any {
	vq := func(bt string) map[string]any {
		return map[string]any{"bottleneck_type": bt, "ckpt_path": nil, "code_shape": []int{grid, grid, depth}, "decay": 0.99,
			"embed_dim": 32, "latent_shape": []int{grid, grid, 32}, "n_embed": 16384, "restart_unused_codes": true, "shared_codebook": true}
	}
	latent := res / 16
	return map[string]any{
		"architectures": []string{"RQVAESIGLIPTransformer"}, "hidden_size": 1152, "model_type": "rqvaesigliptransformer_model",
		"rqvaesiglip": map[string]any{
			"architectures": []string{"RQVAESiglip"}, "layer_recon": 6, "layer_sem": 26, "layer_shortcut": 4, "weight_shortcut": 0.6,
			"model_type": "rqvaesiglip_model", "hidden_size": 1152,
			"ddconfig": map[string]any{"attn_resolutions": []int{latent}, "ch": 128, "ch_mult": []int{1, 1, 4, 4, 8}, "decoder_in_channels": 1024,
				"double_z": false, "dropout": 0.0, "in_channels": 3, "num_res_blocks": 2, "out_ch": 3, "resolution": res},
			"decoder_latent_shape": []int{latent, latent}, "checkpointing": true, "ignore_keys": nil,
			"vq_sem": vq("rq_ema"), "vq_pix": vq("rq"),
			"pretrained_model": "$PATH_TO_YOUR_MODELS/siglip2-so400m", "torch_dtype": "float32",
		},
	}
}

func writeConfig(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigAuthorsFilesMatchPresets: the authors' two released configs
// parse to the so400m-384 and so400m-256 presets.
func TestConfigAuthorsFilesMatchPresets(t *testing.T) {
	for _, c := range []struct {
		grid, depth, res int
		preset           string
	}{{27, 8, 384, "so400m-384"}, {16, 4, 256, "so400m-256"}} {
		got, err := LoadConfig(writeConfig(t, authorsConfig(c.grid, c.depth, c.res)))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Preset(c.preset)
		got.Source, got.PretrainedModel = want.Source, want.PretrainedModel
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.preset, got, want)
		}
		if h, w := got.OutputSide(); h != c.res || w != c.res {
			t.Errorf("%s: output %dx%d, want %d", c.preset, h, w, c.res)
		}
	}
	for _, n := range PresetNames() {
		p, _ := Preset(n)
		if err := p.Validate(); err != nil {
			t.Errorf("preset %s: %v", n, err)
		}
	}
	if _, err := Preset("huge"); err == nil || !strings.Contains(err.Error(), "so400m-384") {
		t.Errorf("unknown preset: %v", err)
	}
}

// TestConfigFixtureFlatLayout: the fixture's flat layout (RQVAESiglip keys at
// top level, with the extra 2025 blocks) parses.
func TestConfigFixtureFlatLayout(t *testing.T) {
	cfg, _ := partsSet(t)
	if cfg.Pix.BottleneckType != BottleneckRQ || cfg.Sem.BottleneckType != BottleneckRQEMA || !cfg.Pix.SharedCodebook {
		t.Errorf("quantisers %+v %+v", cfg.Pix, cfg.Sem)
	}
	if len(cfg.ConvBlocks) != 2 || !cfg.HasShortcut() || cfg.Projection != ProjectionAttn || !cfg.CausalUp {
		t.Errorf("config %+v", cfg)
	}
}

// TestConfigBadInput: each malformed field is one error naming the file and field.
func TestConfigBadInput(t *testing.T) {
	for _, c := range []struct {
		edit func(r map[string]any)
		want string
	}{
		{func(r map[string]any) { r["vq_pix"].(map[string]any)["bottleneck_type"] = "vq" }, `"bottleneck_type" = "vq"`},
		{func(r map[string]any) { r["vq_sem"].(map[string]any)["embed_dim"] = 16 }, "embed_dim = 16, expected latent_shape[2] = 32"},
		{func(r map[string]any) { r["vq_sem"].(map[string]any)["code_shape"] = []int{27, 27} }, `"code_shape"`},
		{func(r map[string]any) { r["vq_pix"].(map[string]any)["latent_shape"] = []int{27, 26, 32} }, "not a multiple of code_shape"},
		{func(r map[string]any) {
			r["vq_pix"].(map[string]any)["latent_shape"] = []int{27, 26, 32}
			r["vq_pix"].(map[string]any)["code_shape"] = []int{27, 26, 8}
		}, "square token grid"},
		{func(r map[string]any) { delete(r, "vq_pix") }, `missing field "vq_pix"`},
		{func(r map[string]any) { r["hidden_size"] = 1000 }, "hidden_size = 1000 is not a multiple"},
		{func(r map[string]any) { r["layer_recon"] = 27 }, "layer_recon = 27, layer_sem = 26"},
		{func(r map[string]any) { r["ddconfig"].(map[string]any)["ch"] = 100 }, "ch_mult[0] = 100"},
		{func(r map[string]any) { r["decoder_latent_shape"] = []int{24} }, "decoder_latent_shape = [24]"},
		{func(r map[string]any) { r["vq_pix"].(map[string]any)["decay"] = 1.0 }, `"decay" = 1`},
		{func(r map[string]any) { r["weight_shortcut"] = "much" }, `"weight_shortcut"`},
	} {
		a := authorsConfig(27, 8, 384)
		c.edit(a["rqvaesiglip"].(map[string]any))
		p := writeConfig(t, a)
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "config.json") || strings.Contains(err.Error(), "\n") {
			t.Errorf("want one-line error naming config.json and %q, got %v", c.want, err)
		}
	}
}
