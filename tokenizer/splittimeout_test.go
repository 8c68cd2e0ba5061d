package tokenizer

import (
	"strings"
	"testing"
	"time"
)

// A tokenizer.json Split regex that backtracks catastrophically ran with no
// time bound (regexp2's default), and a match error, had there been one,
// was dropped: the rest of the text became one piece. Now a match running
// past splitMatchTimeout is an error naming the pattern.
func TestSplitRegexTimeout(t *testing.T) {
	defer func(d time.Duration) { splitMatchTimeout = d }(splitMatchTimeout)
	splitMatchTimeout = 100 * time.Millisecond
	pres, err := parsePreTokenizer([]byte(`{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated"}]}`))
	if err != nil || len(pres) != 1 {
		t.Fatal(len(pres), err)
	}
	if got, err := pres[0].split([]string{"aab aa"}, false); err != nil || strings.Join(got, "|") != "aab |aa" {
		t.Errorf("ordinary text: %q %v", got, err)
	}
	start := time.Now()
	_, err = pres[0].split([]string{strings.Repeat("a", 40) + "b"}, false)
	want := `tokenizer.json pre_tokenizer Split regex "(a+)+$": a match ran past 100ms on a piece of 41 characters`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	// Encode returns that error.
	tok := mustBPE(t, tinyTokenizer(t, nil, nil, "null", `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated"}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}`))
	if _, err := tok.Encode(strings.Repeat("a", 40) + "b"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Encode: %v, want an error saying %q", err, want)
	}
}

// The built-in GPT-2 regex (ByteLevel use_regex) has the bound too.
func TestGPT2RegexHasATimeout(t *testing.T) {
	if gpt2Regex.MatchTimeout != splitMatchTimeout {
		t.Errorf("gpt2Regex.MatchTimeout = %v, want %v", gpt2Regex.MatchTimeout, splitMatchTimeout)
	}
}
