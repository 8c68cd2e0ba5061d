package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dualtoken/evalharness/backend"
	"github.com/dualtoken/evalharness/imageio"
	"github.com/dualtoken/evalharness/model/precision"
	"github.com/dualtoken/evalharness/model/siglip" // also registers the siglip verify runner
	"github.com/dualtoken/evalharness/tokenizer"
)

func init() {
	register("embed", "Compute normalised SigLIP image/text embeddings (and image x text logits) for files and strings.", &embedCmd{})
}

type embedCmd struct {
	Model     string   `required:"" help:"HF SigLIP or fixed-resolution SigLIP2 model directory (config.json + model.safetensors; model_type siglip or siglip_vision_model), or its Hub repo id when the local Hugging Face cache holds it." placeholder:"DIR"`
	Tokenizer string   `help:"Text tokenizer for --text: SigLIP's spiece.model (SiglipTokenizer's rules) or SigLIP2's Gemma tokenizer.model or tokenizer.json (open_clip's SigLIP2 rules), told apart by their end-of-sequence piece. Default: spiece.model, tokenizer.model or tokenizer.json in --model, in that order." placeholder:"PATH"`
	Image     []string `sep:"none" help:"Image file (JPEG, PNG, WebP); repeatable. Resized to the model's image_size as SiglipImageProcessor does." placeholder:"FILE"`
	Text      []string `sep:"none" help:"Text to embed; repeatable. Tokenised and padded to max_position_embeddings." placeholder:"STR"`
	Batch     int      `default:"16" help:"Largest batch run at once."`
	JSON      bool     `name:"json" help:"Print one JSON object (schema 1) instead of text."`
	DType     string   `name:"dtype" default:"float32" help:"Compute dtype: float32, or bfloat16 (bf16: weight matrices stored and matmuls run in it; LayerNorm, softmax and the embeddings' normalisation in float32)."`
}

func (c *embedCmd) Help() string {
	return `Loads the model once and prints one L2-normalised embedding per image and per
text. With both images and texts it also prints logits_per_image =
exp(logit_scale)*cos + logit_bias and sigmoid(logit), SigLIP's match probability.

--dtype bfloat16 halves the weights' memory; embeddings then differ from
float32 by about 2⁻⁸ of their scale per network stage.

Texts get the rules of the folder's tokenizer: SigLIP's spiece.model, or a
fixed-resolution SigLIP2 folder's Gemma tokenizer.model (open_clip's SigLIP2
cleaning, <eos>, <pad>); --json shows the input_ids.

Examples:
  evalrun embed --model ckpt/siglip-base-patch16-224 --image cat.jpg --image dog.png \
      --text "a photo of a cat" --text "a photo of a dog" --json
  evalrun embed --model ckpt/siglip2-so400m-patch14-384 --image cat.jpg --text "a photo of a cat"`
}

// embedOutput is the --json document.
type embedOutput struct {
	Schema int           `json:"schema"`
	Model  string        `json:"model"`
	Dim    int           `json:"dim"`
	Images []embedImage  `json:"images,omitempty"`
	Texts  []embedText   `json:"texts,omitempty"`
	Logits [][]float64   `json:"logits_per_image,omitempty"`
	Probs  [][]float64   `json:"probs_per_image,omitempty"`
	Scale  *embedScaling `json:"logit,omitempty"`
}

type embedImage struct {
	File      string    `json:"file"`
	Embedding []float32 `json:"embedding"`
}

type embedText struct {
	Text      string    `json:"text"`
	IDs       []int     `json:"input_ids"`
	Embedding []float32 `json:"embedding"`
}

type embedScaling struct {
	Scale float64 `json:"scale"` // exp(logit_scale)
	Bias  float64 `json:"bias"`
}

func (c *embedCmd) Run(g *Globals) error {
	if len(c.Image) == 0 && len(c.Text) == 0 {
		return usageErr("embed: give at least one --image or --text")
	}
	if c.Tokenizer != "" && len(c.Text) == 0 {
		// Only --text is tokenised: an unused --tokenizer (even a missing
		// file) would otherwise pass unnoticed.
		return usageErr("embed: --tokenizer %s: it only tokenises --text, and none was given: add --text or drop --tokenizer", c.Tokenizer)
	}
	if c.Batch < 1 {
		return usageErr("embed: --batch %d: want a whole number >= 1 (default 16)", c.Batch)
	}
	dt, err := precision.Parse(c.DType)
	if err != nil {
		return usageErr("embed: %v", err)
	}
	m, err := siglip.Load(hubOrPath(c.Model))
	if err != nil {
		return usageErr("embed: %v", err)
	}
	if err := m.SetDType(dt); err != nil {
		return failErr("embed: %v", err)
	}
	cfg := m.Config
	if len(c.Text) > 0 && cfg.Text == nil {
		return usageErr("embed: %s is a vision-only model (model_type %q): it cannot embed --text", c.Model, cfg.ModelType)
	}

	// Read every input before the (slow) model runs, so bad input fails fast.
	size := cfg.Vision.ImageSize
	var pixels []float32
	for _, f := range c.Image {
		img, err := imageio.Load(f)
		if err != nil {
			return usageErr("embed: %v", err)
		}
		pixels = append(pixels, imageio.SiglipPixels(img, size)...)
	}
	var ids [][]int
	if len(c.Text) > 0 {
		tok, err := c.siglipTokenizer(cfg.Text.MaxPositions)
		if err != nil {
			return usageErr("embed: %v", err)
		}
		for _, t := range c.Text {
			row, err := tok.Encode(t)
			if err != nil {
				return usageErr("embed: tokenising %q: %v", t, err)
			}
			ids = append(ids, row)
		}
	}

	b, err := backend.New(g.Backend)
	if err != nil {
		return usageErr("%v", err)
	}
	enc, err := siglip.NewEncoder(b, m, c.Batch)
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	defer enc.Close()
	out := embedOutput{Schema: 1, Model: c.Model}
	var imgEmb, txtEmb [][]float32
	if len(c.Image) > 0 {
		if imgEmb, err = enc.EmbedImages(pixels); err != nil {
			return usageErr("embed: %v", err)
		}
		for i, f := range c.Image {
			out.Images = append(out.Images, embedImage{File: f, Embedding: imgEmb[i]})
		}
		out.Dim = len(imgEmb[0])
	}
	if len(ids) > 0 {
		if txtEmb, err = enc.EmbedTexts(ids); err != nil {
			return usageErr("embed: %v", err)
		}
		for i, t := range c.Text {
			out.Texts = append(out.Texts, embedText{Text: t, IDs: ids[i], Embedding: txtEmb[i]})
		}
		out.Dim = len(txtEmb[0])
	}
	if imgEmb != nil && txtEmb != nil {
		if out.Logits, err = enc.Logits(imgEmb, txtEmb); err != nil {
			return usageErr("embed: %v", err)
		}
		for _, row := range out.Logits {
			p := make([]float64, len(row))
			for j, l := range row {
				p[j] = siglip.Probability(l)
			}
			out.Probs = append(out.Probs, p)
		}
		s, bias, _ := m.LogitScaleBias()
		out.Scale = &embedScaling{Scale: s, Bias: bias}
	}

	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(out)
	}
	vec := func(v []float32) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprintf("%.6g", x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	for _, im := range out.Images {
		fmt.Printf("image %s %s\n", im.File, vec(im.Embedding))
	}
	for _, t := range out.Texts {
		fmt.Printf("text %q %s\n", t.Text, vec(t.Embedding))
	}
	if out.Logits != nil {
		fmt.Printf("\nlogits_per_image = %.4g*cos %+.4g (sigmoid in brackets)\n", out.Scale.Scale, out.Scale.Bias)
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprint(tw, "image \\ text")
		for _, t := range c.Text {
			fmt.Fprintf(tw, "\t%q", t)
		}
		fmt.Fprintln(tw)
		for i, f := range c.Image {
			fmt.Fprint(tw, f)
			for j := range c.Text {
				fmt.Fprintf(tw, "\t%.4f (%.3f)", out.Logits[i][j], out.Probs[i][j])
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	return nil
}

// siglipTokenizer opens --tokenizer (or the model directory's tokenizer file,
// tokenizer.SiglipTokenizerIn) with the text rules it calls for, padding to
// maxLen; a tokenizer that is neither SigLIP's nor SigLIP2's is refused
// (tokenizer.LoadSiglipText).
func (c *embedCmd) siglipTokenizer(maxLen int) (tokenizer.TextTokenizer, error) {
	path := c.Tokenizer
	if path == "" {
		if path = tokenizer.SiglipTokenizerIn(hubOrPath(c.Model)); path == "" {
			return nil, fmt.Errorf("%s has no spiece.model (SigLIP), tokenizer.model or tokenizer.json (SigLIP2's Gemma tokenizer): pass --tokenizer PATH", c.Model)
		}
	}
	return tokenizer.LoadSiglipText(path, maxLen)
}
