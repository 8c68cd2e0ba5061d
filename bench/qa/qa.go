// Package qa holds what the question-answering suites (vqav2, pope, mme,
// mmbench, seed, mmvet) share: LLaVA-1.5's prompt suffixes and token limits
// (benchmarks.md §0), the cached prediction of one question, the batch
// routines that load images, ask an Answerer and turn an unreadable image
// into a counted per-item failure, and option parsing.
//
// The chat template is the Answerer's job: prompts here are the user text
// only (question plus protocol suffix), answers are greedy.
package qa

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/imageio"
)

// LLaVA-1.5's answer-format suffixes (llava/eval scripts, §0).
const (
	ShortAnswerSuffix    = "\nAnswer the question using a single word or phrase."
	MultipleChoiceSuffix = "\nAnswer with the option's letter from the given choices directly."
)

// LLaVA-1.5's generation limits: model_vqa_loader (VQAv2, POPE, MME, SEED)
// and model_vqa / model_vqa_mmbench (MM-Vet, MMBench).
const (
	MaxNewTokensShort = 128
	MaxNewTokensLong  = 1024
)

// Prompt variants every QA suite accepts (option "prompt").
const (
	PromptLLaVA = "llava" // LLaVA-1.5's suffixes (default)
	PromptPlain = "plain" // the benchmark's question text without a suffix
)

// Letters are the option letters in order.
const Letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// FormatOptions renders choices as LLaVA does, "\nA. text" per option, or
// refuses more than 26 (there is no letter for the 27th).
func FormatOptions(choices []string) (string, error) {
	if len(choices) > len(Letters) {
		return "", fmt.Errorf("%d options, want at most %d (A to Z)", len(choices), len(Letters))
	}
	var b strings.Builder
	for i, c := range choices {
		fmt.Fprintf(&b, "\n%c. %s", Letters[i], c)
	}
	return b.String(), nil
}

// OptionLines is FormatOptions for callers whose number of choices is fixed
// by construction (at most 26); it panics beyond. Choices read from a data
// file go through FormatOptions.
func OptionLines(choices []string) string {
	s, err := FormatOptions(choices)
	if err != nil {
		panic("qa.OptionLines: " + err.Error())
	}
	return s
}

// Pred is the cached prediction of one question: the prompt sent, the raw
// answer and the answer as parsed when predicted (Score re-parses Raw under
// the scorer rule in force, so a rescore with another rule is exact).
type Pred struct {
	Prompt string `json:"prompt"`
	Raw    string `json:"raw"`
	Parsed string `json:"parsed"`
	// Losses are the per-choice mean token NLLs (likelihood mode). An
	// infinite or NaN loss (a candidate of no tokens, a model's NaN logits)
	// is written as a string, as bench.JSONFloat does.
	Losses []float64 `json:"losses,omitempty"`
}

// predJSON is Pred as written: losses through bench.JSONFloat (the outer
// field hides the embedded one for encoding/json).
type predJSON struct {
	*predFields
	Losses []bench.JSONFloat `json:"losses,omitempty"`
}

// predFields has Pred's fields without its methods.
type predFields Pred

// MarshalJSON implements json.Marshaler (encoding/json alone refuses NaN
// and Inf, and the record was lost).
func (p Pred) MarshalJSON() ([]byte, error) {
	out := predJSON{predFields: (*predFields)(&p)}
	for _, l := range p.Losses {
		out.Losses = append(out.Losses, bench.JSONFloat(l))
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Pred) UnmarshalJSON(b []byte) error {
	in := predJSON{predFields: (*predFields)(p)}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	p.Losses = nil
	for _, l := range in.Losses {
		p.Losses = append(p.Losses, float64(l))
	}
	return nil
}

// Decode reads a record's prediction; failed records give ok=false.
func Decode(r bench.Record) (p Pred, ok bool, err error) {
	if r.Error != "" {
		return Pred{}, false, nil
	}
	if len(r.Pred) == 0 {
		return Pred{}, false, fmt.Errorf("item %s: record has neither a prediction nor an error", r.ID)
	}
	if err := json.Unmarshal(r.Pred, &p); err != nil {
		return Pred{}, false, fmt.Errorf("item %s: bad prediction record: %v", r.ID, err)
	}
	return p, true, nil
}

// Query is one item's question: how to get its image and the user prompt.
type Query struct {
	Image  func() (*imageio.Image, error)
	Prompt string
}

// FileImage loads the image at path (the runner's background decode of it
// when the task is a bench.ImagePather).
func FileImage(path string) func() (*imageio.Image, error) {
	return func() (*imageio.Image, error) { return bench.LoadImage(path) }
}

// Answerer returns m as an Answerer or a clear error.
func Answerer(task string, m bench.Model) (bench.Answerer, error) {
	a, ok := m.(bench.Answerer)
	if !ok {
		return nil, fmt.Errorf("%s: model %q cannot answer questions (needs an image+text → text model)", task, m.Info().Name)
	}
	return a, nil
}

// loadAll decodes the queries' images in parallel.
func loadAll(qs []Query) ([]*imageio.Image, []error) {
	imgs := make([]*imageio.Image, len(qs))
	errs := make([]error, len(qs))
	bench.ParallelFor(len(qs), func(i int) { imgs[i], errs[i] = qs[i].Image() })
	return imgs, errs
}

// Generate answers a batch greedily with maxNew new tokens. parse maps a raw
// answer to the parsed one logged beside it. An item whose image cannot be
// read becomes a failed record (counted, scored as wrong); a model error
// fails the batch.
func Generate(ctx context.Context, task string, m bench.Model, qs []Query, maxNew int, parse func(i int, raw string) string) ([]bench.Record, error) {
	a, err := Answerer(task, m)
	if err != nil {
		return nil, err
	}
	recs := make([]bench.Record, len(qs))
	imgs, errs := loadAll(qs)
	var batch []bench.Question
	var idx []int
	for i, q := range qs {
		if errs[i] != nil {
			recs[i].Error = errs[i].Error()
			continue
		}
		batch = append(batch, bench.Question{Images: []*imageio.Image{imgs[i]}, Prompt: q.Prompt, MaxNewTokens: maxNew})
		idx = append(idx, i)
	}
	if len(batch) == 0 {
		return recs, nil
	}
	answers, err := a.Answer(ctx, batch)
	if err != nil {
		return nil, err
	}
	if len(answers) != len(batch) {
		return nil, fmt.Errorf("%s: model returned %d answers for %d questions", task, len(answers), len(batch))
	}
	for j, i := range idx {
		raw := answers[j]
		if recs[i].Pred, err = json.Marshal(Pred{Prompt: qs[i].Prompt, Raw: raw, Parsed: parse(i, raw)}); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// Rank scores each query's candidates by mean token NLL (lower is likelier)
// and records the losses with the letter of the lowest as Parsed (pick).
func Rank(ctx context.Context, task string, m bench.Model, qs []Query, cands [][]string, pick func(losses []float64) string) ([]bench.Record, error) {
	a, err := Answerer(task, m)
	if err != nil {
		return nil, err
	}
	recs := make([]bench.Record, len(qs))
	imgs, errs := loadAll(qs)
	for i, q := range qs {
		if errs[i] != nil {
			recs[i].Error = errs[i].Error()
			continue
		}
		losses, err := a.MeanNLL(ctx, bench.Question{Images: []*imageio.Image{imgs[i]}, Prompt: q.Prompt}, cands[i])
		if err != nil {
			return nil, err
		}
		if len(losses) != len(cands[i]) {
			return nil, fmt.Errorf("%s: model returned %d losses for %d candidates", task, len(losses), len(cands[i]))
		}
		if recs[i].Pred, err = json.Marshal(Pred{Prompt: q.Prompt, Losses: losses, Parsed: pick(losses)}); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// PromptOption declares the prompt option of the generation suites.
func PromptOption() bench.OptionDoc {
	return bench.OptionDoc{Key: "prompt", Help: "llava = the question plus LLaVA-1.5's answer-format suffix; plain = the question as the benchmark writes it",
		Default: PromptLLaVA, Values: []string{PromptLLaVA, PromptPlain}}
}

// MaxNewTokensOption declares the generation length limit, default def.
func MaxNewTokensOption(def int) bench.OptionDoc {
	return bench.OptionDoc{Key: "max_new_tokens", Help: "most tokens generated per answer (greedy decoding); a positive integer", Default: strconv.Itoa(def)}
}

// Choice reads option key, which must be one of allowed (def when unset).
func Choice(task string, opts bench.Options, key, def string, allowed ...string) (string, error) {
	v := opts.Get(key, def)
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: option %s=%q: want one of %s", task, key, v, strings.Join(allowed, ", "))
}

// Int reads a positive integer option.
func Int(task string, opts bench.Options, key string, def int) (int, error) {
	s := opts.Get(key, "")
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s: option %s=%q: want a positive integer", task, key, s)
	}
	return v, nil
}

// Bool reads a boolean option (true/false, on/off, yes/no, 1/0).
func Bool(task string, opts bench.Options, key string, def bool) (bool, error) {
	switch strings.ToLower(opts.Get(key, "")) {
	case "":
		return def, nil
	case "true", "on", "yes", "1":
		return true, nil
	case "false", "off", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%s: option %s=%q: want true or false", task, key, opts.Get(key, ""))
}

// Dir returns the first candidate that is a directory, or "" if none.
func Dir(candidates ...string) string {
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	return ""
}

// File returns the first candidate that is a regular file, or "" if none.
func File(candidates ...string) string {
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c
		}
	}
	return ""
}

// Pct is 100·num/den (0 when den is 0).
func Pct(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return 100 * float64(num) / float64(den)
}
