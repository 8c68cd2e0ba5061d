package siglip

import (
	"fmt"
	"strconv"
	"strings"
)

// BF16Stages is the number of bfloat16 stages (see precision.CompareBF16)
// behind a golden SigLIP output of a model with config c, or 0 for a name it
// does not know: the embedding is stage 1, every encoder layer adds two
// (attention, MLP), the final LayerNorm one, the MAP head two (attention,
// MLP) and the text head one. Normalisation and logits are float32 and add
// none; the logits are compared as cosines (see runVerify).
func BF16Stages(c *Config, name string) int {
	L := c.Vision.NumLayers
	if i, ok := layerIndex(name, OutVisionHidden, L); ok {
		return 1 + 2*i
	}
	switch name {
	case OutVisionLast:
		return 1 + 2*L + 1
	case OutVisionPooled, OutImageEmbeds:
		return 1 + 2*L + 1 + 2
	}
	if c.Text == nil {
		return 0
	}
	T := c.Text.NumLayers
	if i, ok := layerIndex(name, OutTextHidden, T); ok {
		return 1 + 2*i
	}
	switch name {
	case OutTextLast:
		return 1 + 2*T + 1
	case OutTextPooled, OutTextEmbeds:
		return 1 + 2*T + 1 + 1
	case OutLogits:
		return max(BF16Stages(c, OutImageEmbeds), BF16Stages(c, OutTextEmbeds))
	}
	return 0
}

// layerIndex parses name as pattern (a "%d" output name) with 0 <= i <= n.
func layerIndex(name, pattern string, n int) (int, bool) {
	prefix, _, _ := strings.Cut(pattern, "%d")
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i > n || fmt.Sprintf(pattern, i) != name {
		return 0, false
	}
	return i, true
}
