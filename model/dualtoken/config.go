// Package dualtoken holds the DualToken tokenizer's parts around the SigLIP
// tower, as the authors' code (songweii/DualToken@29e7c84) defines them: the
// attention projections (prequant/shortcut/postquant), the residual
// quantisers with their shared EMA codebooks, the post-quant ResNet block,
// the latent resize and the taming-VQGAN pixel decoder, plus the 2025
// release's conv projection blocks. Parameters are GoMLX variables named
// after the authors' state-dict keys (see params.go); every size comes from
// a Config parsed from the authors' `rqvaesiglip` config keys.
package dualtoken

import (
	"fmt"
	"slices"

	"github.com/dualtoken/evalharness/model/config"
)

// Projection variants of the quantiser projections.
const (
	ProjectionAttn = "attn" // 2026: AttnProjection down, causal AttnProjection up
	ProjectionConv = "conv" // 2025: conv ProjectResnetBlocks on the token map
)

// Bottleneck types: when the codebook EMA update happens in training.
const (
	BottleneckRQ    = "rq"     // after every depth (the pixel quantiser)
	BottleneckRQEMA = "rq_ema" // once after all depths (the semantic quantiser)
)

// Config is the tokenizer configuration (the authors' RQVAESiglipConfig).
type Config struct {
	HiddenSize     int     // tower width C (hidden_size)
	LayerRecon     int     // 1-indexed tower layer feeding the pixel branch (layer_recon)
	LayerSem       int     // 1-indexed tower layer feeding the semantic branch (layer_sem)
	LayerShortcut  int     // 1-indexed shortcut layer, 0 when absent (layer_shortcut)
	WeightShortcut float64 // weight of prequant_shortcut in the pixel latent (weight_shortcut)

	// Projection is ProjectionAttn (2026, default) or ProjectionConv (2025);
	// our key "projection_type", absent in the authors' 2026 configs.
	Projection string
	// CausalUp makes the attention up-projections causal in raster order
	// (2026 code); our key "causal_postquant", default true.
	CausalUp bool

	Pix, Sem VQConfig // vq_pix, vq_sem

	Decoder DecoderConfig // ddconfig
	// DecoderLatentShape is the bilinear resize target of the postquant map
	// before post_quant_conv (decoder_latent_shape); nil means no resize.
	DecoderLatentShape []int

	// ConvBlocks are standalone 2025 ProjectResnetBlocks by checkpoint name
	// (the fixtures' "extra_2025_blocks": {name: [in, out]}).
	ConvBlocks []ConvBlock

	PretrainedModel string // tower checkpoint the authors start from (pretrained_model)
	Source          string // file the config came from, for error messages
}

// VQConfig configures one residual quantiser (the authors' vq_pix / vq_sem).
type VQConfig struct {
	BottleneckType     string // BottleneckRQ or BottleneckRQEMA
	LatentShape        [3]int // [H, W, channels] of the quantiser input
	CodeShape          [3]int // [h, w, depth]
	EmbedDim           int    // projection output width (embed_dim)
	NEmbed             int    // codebook size K (n_embed); the weight has K+1 rows
	Decay              float64
	Eps                float64 // Laplace smoothing of the EMA cluster sizes (1e-5 in the code)
	RestartUnusedCodes bool
	SharedCodebook     bool
	// EMADepthResiduals makes the after-all-depths (rq_ema) EMA use each
	// depth's own residual; the authors' code, through an in-place update of
	// a cached view, uses the final residual for every depth (false, default;
	// our key "ema_depth_residuals").
	EMADepthResiduals bool
}

// Depth is the number of residual quantisation steps D.
func (v VQConfig) Depth() int { return v.CodeShape[2] }

// Divisor is latent_shape / code_shape per spatial axis (1 in every released config).
func (v VQConfig) Divisor() (int, int) {
	return v.LatentShape[0] / v.CodeShape[0], v.LatentShape[1] / v.CodeShape[1]
}

// CodeDim is the codebook vector width: channels times the spatial divisor.
func (v VQConfig) CodeDim() int {
	rh, rw := v.Divisor()
	return rh * rw * v.LatentShape[2]
}

// NumCodebooks is 1 for a shared codebook, else one per depth.
func (v VQConfig) NumCodebooks() int {
	if v.SharedCodebook {
		return 1
	}
	return v.Depth()
}

// DecoderConfig is the taming-VQGAN decoder's ddconfig.
type DecoderConfig struct {
	Ch                int   // base channels
	ChMult            []int // channel multiplier per resolution level
	NumResBlocks      int   // res blocks per level on the way down; +1 on the way up
	AttnResolutions   []int // resolutions with an attention block after each res block
	Resolution        int   // output image side
	OutCh             int   // output channels (3)
	InChannels        int   // image channels of the (unused) encoder
	DecoderInChannels int   // channels of the decoder input (post_quant_conv output)
	ResampWithConv    bool  // 3x3 conv after each nearest x2 upsample (default true)
	GivePreEnd        bool  // stop before norm_out/conv_out (default false)
}

// LatentSide is the decoder input side: resolution / 2^(levels-1).
func (d DecoderConfig) LatentSide() int { return d.Resolution >> (len(d.ChMult) - 1) }

// BlockIn is the channel count of the decoder's lowest level (ch * ch_mult[-1]).
func (d DecoderConfig) BlockIn() int { return d.Ch * d.ChMult[len(d.ChMult)-1] }

// ConvBlock is a standalone ProjectResnetBlock.
type ConvBlock struct {
	Name    string
	In, Out int
}

// Grid is the token grid side of a branch (latent_shape[0]).
func (c *Config) Grid() int { return c.Pix.LatentShape[0] }

// HasShortcut reports whether the pixel latent adds prequant_shortcut.
func (c *Config) HasShortcut() bool { return c.LayerShortcut > 0 }

// LoadConfig reads a config.json: either the outer RQVAESIGLIPTransformer file with
// a "rqvaesiglip" section, or the RQVAESiglip keys at top level.
func LoadConfig(dirOrFile string) (*Config, error) {
	raw, err := config.Load(dirOrFile)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw)
}

// ParseConfig builds a Config from a parsed config.json (see LoadConfig).
func ParseConfig(raw *config.Raw) (*Config, error) {
	r := raw
	if raw.Has("rqvaesiglip") {
		var err error
		if r, err = raw.Sub("rqvaesiglip"); err != nil {
			return nil, err
		}
	}
	c := &Config{Source: r.Path}
	var err error
	get := func(dst *int, keys ...string) {
		if err == nil {
			*dst, err = r.Int(keys...)
		}
	}
	get(&c.HiddenSize, "hidden_size")
	get(&c.LayerRecon, "layer_recon")
	get(&c.LayerSem, "layer_sem")
	if err != nil {
		return nil, err
	}
	if c.LayerShortcut, err = r.IntOr(0, "layer_shortcut"); err != nil {
		return nil, err
	}
	if c.HasShortcut() {
		if c.WeightShortcut, err = r.Float("weight_shortcut"); err != nil {
			return nil, err
		}
	}
	if c.Projection, err = r.StringOr(ProjectionAttn, "projection_type"); err != nil {
		return nil, err
	}
	if c.CausalUp, err = r.BoolOr(true, "causal_postquant"); err != nil {
		return nil, err
	}
	if c.PretrainedModel, err = r.StringOr("", "pretrained_model"); err != nil {
		return nil, err
	}
	if c.Pix, err = parseVQ(r, "vq_pix", "vq_pixel"); err != nil {
		return nil, err
	}
	if c.Sem, err = parseVQ(r, "vq_sem", "vq_semantic"); err != nil {
		return nil, err
	}
	if c.Decoder, err = parseDecoder(r); err != nil {
		return nil, err
	}
	if r.Has("decoder_latent_shape") {
		if c.DecoderLatentShape, err = r.Ints("decoder_latent_shape"); err != nil {
			return nil, err
		}
	}
	if r.Has("extra_2025_blocks") {
		if c.ConvBlocks, err = parseConvBlocks(r); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func parseVQ(r *config.Raw, keys ...string) (VQConfig, error) {
	var v VQConfig
	key := keys[0]
	for _, k := range keys {
		if r.Has(k) {
			key = k
			break
		}
	}
	s, err := r.Sub(key)
	if err != nil {
		return v, err
	}
	if v.BottleneckType, err = s.String("bottleneck_type"); err != nil {
		return v, err
	}
	ints := func(dst *[3]int, name string) error {
		xs, err := s.Ints(name)
		if err != nil {
			return err
		}
		if len(xs) != 3 {
			return fmt.Errorf("%s: field %q = %v, expected 3 integers [h, w, d]", s.Path, name, xs)
		}
		copy(dst[:], xs)
		return nil
	}
	if err = ints(&v.LatentShape, "latent_shape"); err != nil {
		return v, err
	}
	if err = ints(&v.CodeShape, "code_shape"); err != nil {
		return v, err
	}
	if v.EmbedDim, err = s.Int("embed_dim"); err != nil {
		return v, err
	}
	if v.NEmbed, err = s.Int("n_embed"); err != nil {
		return v, err
	}
	if v.Decay, err = s.FloatOr(0.99, "decay"); err != nil {
		return v, err
	}
	if v.Eps, err = s.FloatOr(1e-5, "eps"); err != nil {
		return v, err
	}
	if v.RestartUnusedCodes, err = s.BoolOr(true, "restart_unused_codes"); err != nil {
		return v, err
	}
	if v.SharedCodebook, err = s.BoolOr(false, "shared_codebook"); err != nil {
		return v, err
	}
	if v.EMADepthResiduals, err = s.BoolOr(false, "ema_depth_residuals"); err != nil {
		return v, err
	}
	return v, validateVQ(s.Path, v)
}

func validateVQ(path string, v VQConfig) error {
	if v.BottleneckType != BottleneckRQ && v.BottleneckType != BottleneckRQEMA {
		return fmt.Errorf("%s: field \"bottleneck_type\" = %q, expected %q or %q", path, v.BottleneckType, BottleneckRQ, BottleneckRQEMA)
	}
	for i, n := range v.CodeShape {
		if n <= 0 || v.LatentShape[i] <= 0 {
			return fmt.Errorf("%s: code_shape %v and latent_shape %v must be positive", path, v.CodeShape, v.LatentShape)
		}
	}
	if v.LatentShape[0]%v.CodeShape[0] != 0 || v.LatentShape[1]%v.CodeShape[1] != 0 {
		return fmt.Errorf("%s: latent_shape %v is not a multiple of code_shape %v", path, v.LatentShape, v.CodeShape)
	}
	if v.EmbedDim != v.LatentShape[2] {
		return fmt.Errorf("%s: embed_dim = %d, expected latent_shape[2] = %d", path, v.EmbedDim, v.LatentShape[2])
	}
	if v.NEmbed <= 0 {
		return fmt.Errorf("%s: field \"n_embed\" = %d, expected > 0", path, v.NEmbed)
	}
	if v.Decay < 0 || v.Decay >= 1 {
		return fmt.Errorf("%s: field \"decay\" = %v, expected in [0, 1)", path, v.Decay)
	}
	return nil
}

func parseDecoder(r *config.Raw) (DecoderConfig, error) {
	var d DecoderConfig
	s, err := r.Sub("ddconfig")
	if err != nil {
		return d, err
	}
	for _, f := range []struct {
		dst *int
		key string
	}{{&d.Ch, "ch"}, {&d.NumResBlocks, "num_res_blocks"}, {&d.Resolution, "resolution"}, {&d.OutCh, "out_ch"},
		{&d.DecoderInChannels, "decoder_in_channels"}} {
		if *f.dst, err = s.Int(f.key); err != nil {
			return d, err
		}
	}
	if d.InChannels, err = s.IntOr(3, "in_channels"); err != nil {
		return d, err
	}
	if d.ChMult, err = s.Ints("ch_mult"); err != nil {
		return d, err
	}
	if s.Has("attn_resolutions") {
		if d.AttnResolutions, err = s.Ints("attn_resolutions"); err != nil {
			return d, err
		}
	}
	if d.ResampWithConv, err = s.BoolOr(true, "resamp_with_conv"); err != nil {
		return d, err
	}
	if d.GivePreEnd, err = s.BoolOr(false, "give_pre_end"); err != nil {
		return d, err
	}
	if len(d.ChMult) == 0 {
		return d, fmt.Errorf("%s: field \"ch_mult\" is empty", s.Path)
	}
	return d, nil
}

func parseConvBlocks(r *config.Raw) ([]ConvBlock, error) {
	s, err := r.Sub("extra_2025_blocks")
	if err != nil {
		return nil, err
	}
	var out []ConvBlock
	names := make([]string, 0, len(s.Data))
	for k := range s.Data {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, n := range names {
		io, err := s.Ints(n)
		if err != nil {
			return nil, err
		}
		if len(io) != 2 {
			return nil, fmt.Errorf("%s: field %q = %v, expected [in_channels, out_channels]", s.Path, n, io)
		}
		out = append(out, ConvBlock{Name: n, In: io[0], Out: io[1]})
	}
	return out, nil
}

// Validate checks the cross-field constraints the authors' modules assume.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", c.Source, fmt.Sprintf(format, args...))
	}
	if c.HiddenSize <= 0 {
		return bad("hidden_size = %d, expected > 0", c.HiddenSize)
	}
	if c.Projection != ProjectionAttn && c.Projection != ProjectionConv {
		return bad("projection_type = %q, expected %q or %q", c.Projection, ProjectionAttn, ProjectionConv)
	}
	if c.LayerSem < c.LayerRecon || c.LayerRecon < 1 {
		return bad("layer_recon = %d, layer_sem = %d: expected 1 <= layer_recon <= layer_sem", c.LayerRecon, c.LayerSem)
	}
	if c.HasShortcut() && c.LayerShortcut > c.LayerSem {
		return bad("layer_shortcut = %d is greater than layer_sem = %d", c.LayerShortcut, c.LayerSem)
	}
	for _, b := range []struct {
		name string
		v    VQConfig
	}{{"vq_pix", c.Pix}, {"vq_sem", c.Sem}} {
		if c.Projection == ProjectionAttn {
			e := b.v.EmbedDim
			if c.HiddenSize%e != 0 {
				return bad("hidden_size = %d is not a multiple of %s.embed_dim = %d (attention heads = hidden/embed)", c.HiddenSize, b.name, e)
			}
		}
		if c.Projection == ProjectionConv && b.v.EmbedDim%32 != 0 {
			return bad("%s.embed_dim = %d: conv projections need a multiple of 32 (GroupNorm 32)", b.name, b.v.EmbedDim)
		}
	}
	if c.Pix.LatentShape[0] != c.Pix.LatentShape[1] || c.Sem.LatentShape[0] != c.Pix.LatentShape[0] || c.Sem.LatentShape[1] != c.Pix.LatentShape[1] {
		return bad("vq_pix.latent_shape %v and vq_sem.latent_shape %v must share one square token grid", c.Pix.LatentShape, c.Sem.LatentShape)
	}
	if c.HiddenSize%32 != 0 {
		return bad("hidden_size = %d: post_quant_conv's GroupNorm needs a multiple of 32", c.HiddenSize)
	}
	d := c.Decoder
	for i, m := range d.ChMult {
		if m <= 0 || (d.Ch*m)%32 != 0 {
			return bad("ddconfig.ch * ch_mult[%d] = %d: GroupNorm needs a positive multiple of 32", i, d.Ch*m)
		}
	}
	if d.DecoderInChannels%32 != 0 {
		return bad("ddconfig.decoder_in_channels = %d: GroupNorm needs a multiple of 32", d.DecoderInChannels)
	}
	if d.Resolution%(1<<(len(d.ChMult)-1)) != 0 {
		return bad("ddconfig.resolution = %d is not divisible by 2^(len(ch_mult)-1) = %d", d.Resolution, 1<<(len(d.ChMult)-1))
	}
	if d.NumResBlocks < 0 {
		return bad("ddconfig.num_res_blocks = %d, expected >= 0", d.NumResBlocks)
	}
	if s := c.DecoderLatentShape; s != nil {
		if len(s) != 2 || s[0] <= 0 || s[1] <= 0 {
			return bad("decoder_latent_shape = %v, expected [h, w]", s)
		}
	}
	for _, b := range c.ConvBlocks {
		if b.In%32 != 0 || b.Out%32 != 0 || b.In <= 0 || b.Out <= 0 {
			return bad("extra_2025_blocks.%s = [%d, %d]: GroupNorm needs positive multiples of 32", b.Name, b.In, b.Out)
		}
	}
	return nil
}

// DecoderLatent is the spatial size the decoder receives: decoder_latent_shape
// when set, else the token grid.
func (c *Config) DecoderLatent() (int, int) {
	if c.DecoderLatentShape != nil {
		return c.DecoderLatentShape[0], c.DecoderLatentShape[1]
	}
	return c.Grid(), c.Grid()
}

// OutputSide is the decoded image side: the decoder latent doubled per level.
func (c *Config) OutputSide() (int, int) {
	h, w := c.DecoderLatent()
	s := 1 << (len(c.Decoder.ChMult) - 1)
	return h * s, w * s
}
