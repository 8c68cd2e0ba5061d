package tokenizer

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualtoken/evalharness/internal/fixtures"
)

func TestQwenChat(t *testing.T) {
	want := "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
		"<|im_start|>user\nWhat is in the image?<|im_end|>\n" +
		"<|im_start|>assistant\n"
	if got := QwenPrompt("What is in the image?"); got != want {
		t.Errorf("QwenPrompt:\n%q\nwant\n%q", got, want)
	}
	got := QwenChat([]Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"},
		{Role: "assistant", Content: "Hello."},
		{Role: "user", Content: "Bye"},
	}, QwenDefaultSystem, false)
	want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
		"<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
	if got != want {
		t.Errorf("multi-turn:\n%q\nwant\n%q", got, want)
	}
	if got := QwenChat([]Message{{Role: "user", Content: "x"}}, "", true); got != "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n" {
		t.Errorf("no system: %q", got)
	}
	if got := QwenChat([]Message{{Role: "user", Content: "x"}}, Qwen25DefaultSystem, true); !strings.HasPrefix(got, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n") {
		t.Errorf("Qwen2.5 default system: %q", got)
	}
}

func TestLlavaVicunaV1(t *testing.T) {
	sys := "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions."
	if got, want := LlavaPrompt("What is this?", true), sys+" USER: <image>\nWhat is this? ASSISTANT:"; got != want {
		t.Errorf("LlavaPrompt:\n%q\nwant\n%q", got, want)
	}
	if got, want := LlavaPrompt("Hi", false), sys+" USER: Hi ASSISTANT:"; got != want {
		t.Errorf("no image: %q", got)
	}
	got := LlavaVicunaV1([]Message{{Role: "user", Content: "q1"}, {Role: "assistant", Content: "a1"}, {Role: "user", Content: "q2"}}, true)
	if want := sys + " USER: q1 ASSISTANT: a1</s>USER: q2 ASSISTANT:"; got != want {
		t.Errorf("multi-turn:\n%q\nwant\n%q", got, want)
	}
}

// TestQwenPromptTokens: the template's markers become single special ids
// with the fixture tokenizer.json, and decoding skips them.
func TestQwenPromptTokens(t *testing.T) {
	tok, err := LoadHFBPE(filepath.Join(fixtures.Dir(t, "bpe"), "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	start, err := SpecialID(tok, "<|im_start|>")
	if err != nil {
		t.Fatal(err)
	}
	end, err := SpecialID(tok, "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	prompt := QwenPrompt("What is in the image?")
	ids := encodeOK(t, tok, prompt)
	count := func(x int) (n int) {
		for _, id := range ids {
			if id == x {
				n++
			}
		}
		return
	}
	if count(start) != 3 || count(end) != 2 {
		t.Errorf("prompt ids %v: %d <|im_start|>, %d <|im_end|>; want 3 and 2", ids, count(start), count(end))
	}
	plain := strings.NewReplacer("<|im_start|>", "", "<|im_end|>", "").Replace(prompt)
	if got := tok.Decode(ids); got != plain {
		t.Errorf("Decode = %q, want %q", got, plain)
	}
}
