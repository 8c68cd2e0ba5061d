package tokenizer

import "strings"

// Message is one chat turn. Role is "system", "user" or "assistant".
type Message struct {
	Role    string
	Content string
}

// Default system prompts of the Qwen chat templates: Qwen2 / Qwen2-VL use
// QwenDefaultSystem; Qwen2.5-Instruct's template uses Qwen25DefaultSystem.
const (
	QwenDefaultSystem   = "You are a helpful assistant."
	Qwen25DefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
)

// QwenChat renders messages with Qwen's ChatML template (no tools):
//
//	<|im_start|>system\n{system}<|im_end|>\n
//	<|im_start|>{role}\n{content}<|im_end|>\n   (each further turn)
//	<|im_start|>assistant\n                      (if addGenerationPrompt)
//
// A leading "system" message supplies the system turn; otherwise
// defaultSystem does ("" for none).
func QwenChat(messages []Message, defaultSystem string, addGenerationPrompt bool) string {
	var b strings.Builder
	turn := func(role, content string) {
		b.WriteString("<|im_start|>")
		b.WriteString(role)
		b.WriteString("\n")
		b.WriteString(content)
		b.WriteString("<|im_end|>\n")
	}
	if len(messages) > 0 && messages[0].Role == "system" {
		turn("system", messages[0].Content)
		messages = messages[1:]
	} else if defaultSystem != "" {
		turn("system", defaultSystem)
	}
	for _, m := range messages {
		turn(m.Role, m.Content)
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String()
}

// QwenPrompt is the one-question prompt: default system turn, the user turn,
// and the assistant header the model continues from.
func QwenPrompt(user string) string {
	return QwenChat([]Message{{Role: "user", Content: user}}, QwenDefaultSystem, true)
}

// LLaVA-1.5's conv_vicuna_v1 (haotian-liu/LLaVA llava/conversation.py):
// separator style TWO with sep " " after user turns and "</s>" after
// assistant turns.
const (
	LlavaVicunaSystem = "A chat between a curious user and an artificial intelligence assistant. " +
		"The assistant gives helpful, detailed, and polite answers to the user's questions."
	// ImageToken marks where LLaVA splices the image features into the prompt.
	ImageToken = "<image>"
)

// LlavaVicunaV1 renders messages as LLaVA-1.5's vicuna_v1 prompt:
//
//	{system} USER: {user} ASSISTANT: {answer}</s>USER: ... ASSISTANT:
//
// A leading "system" message replaces LlavaVicunaSystem. As in LLaVA, the
// separator after the i-th turn is " " for even i and "</s>" for odd i.
func LlavaVicunaV1(messages []Message, addGenerationPrompt bool) string {
	system := LlavaVicunaSystem
	if len(messages) > 0 && messages[0].Role == "system" {
		system = messages[0].Content
		messages = messages[1:]
	}
	seps := [2]string{" ", "</s>"}
	var b strings.Builder
	b.WriteString(system)
	b.WriteString(seps[0])
	for i, m := range messages {
		b.WriteString(llavaRole(m.Role))
		b.WriteString(": ")
		b.WriteString(m.Content)
		b.WriteString(seps[i%2])
	}
	if addGenerationPrompt {
		b.WriteString("ASSISTANT:")
	}
	return b.String()
}

func llavaRole(role string) string {
	switch role {
	case "user":
		return "USER"
	case "assistant":
		return "ASSISTANT"
	}
	return strings.ToUpper(role)
}

// LlavaPrompt is the single-question prompt of LLaVA-1.5's evaluation scripts
// (model_vqa_loader.py): "<image>\n" before the question when there is an
// image, then the vicuna_v1 wrapper ending in "ASSISTANT:".
func LlavaPrompt(question string, withImage bool) string {
	if withImage {
		question = ImageToken + "\n" + question
	}
	return LlavaVicunaV1([]Message{{Role: "user", Content: question}}, true)
}
