package llava

import (
	"fmt"
	"strings"

	"github.com/dualtoken/evalharness/tokenizer"
)

// ImagePlaceholder stands, in the ids PromptIDs returns, for one image
// (LLaVA's IMAGE_TOKEN_INDEX); ExpandImages turns it into NumImageTokens
// visual positions.
const ImagePlaceholder = -200

// RenderPrompt wraps a user question in the chat template. A question
// without the image placeholder gets one "<image>\n" per image in front
// (LLaVA's evaluation scripts: DEFAULT_IMAGE_TOKEN + '\n' + qs); a question
// that places them itself must hold exactly nImages of them.
//
//	vicuna_v1: "{system} USER: <image>\n{question} ASSISTANT:"
//	qwen:      "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n<image>\n{question}<|im_end|>\n<|im_start|>assistant\n"
func (m *Model) RenderPrompt(question string, nImages int) (string, error) {
	c := m.Config
	switch n := strings.Count(question, c.ImageToken); {
	case n == 0:
		question = strings.Repeat(c.ImageToken+"\n", nImages) + question
	case n != nImages:
		return "", fmt.Errorf("llava: the prompt has %d %s placeholders but %d image(s) were given", n, c.ImageToken, nImages)
	}
	var msgs []tokenizer.Message
	if c.SystemPrompt != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: c.SystemPrompt})
	}
	msgs = append(msgs, tokenizer.Message{Role: "user", Content: question})
	if c.ChatTemplate == TemplateQwen {
		return tokenizer.QwenChat(msgs, tokenizer.QwenDefaultSystem, true), nil
	}
	return tokenizer.LlavaVicunaV1(msgs, true), nil
}

// PromptIDs renders question with the template and tokenizes it as LLaVA's
// tokenizer_image_token does: the prompt is split at every placeholder, each
// piece is tokenized on its own, ImagePlaceholder goes between pieces, and
// the bos id goes in front when the config asks for it.
func (m *Model) PromptIDs(question string, nImages int) ([]int, error) {
	prompt, err := m.RenderPrompt(question, nImages)
	if err != nil {
		return nil, err
	}
	var ids []int
	if m.Config.AddBOS {
		ids = append(ids, m.bos)
	}
	for i, chunk := range strings.Split(prompt, m.Config.ImageToken) {
		if i > 0 {
			ids = append(ids, ImagePlaceholder)
		}
		if chunk == "" {
			continue
		}
		part, err := m.Tok.Encode(chunk)
		if err != nil {
			return nil, fmt.Errorf("llava: tokenizing the prompt: %w", err)
		}
		ids = append(ids, part...)
	}
	return ids, nil
}

// ExpandImages replaces each ImagePlaceholder of ids by NumImageTokens
// copies of it: the positions that will hold that image's features.
func (m *Model) ExpandImages(ids []int) []int {
	P := m.NumImageTokens()
	out := make([]int, 0, len(ids)+P)
	for _, id := range ids {
		if id == ImagePlaceholder {
			for range P {
				out = append(out, ImagePlaceholder)
			}
			continue
		}
		out = append(out, id)
	}
	return out
}
