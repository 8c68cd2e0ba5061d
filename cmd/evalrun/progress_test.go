package main

import (
	"bytes"
	"testing"
	"time"
)

// Off a terminal, a bar's redraws become a line per interval and the
// finished bar, each once; the blank 0% frame is left out.
func TestLogLines(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	l := &logLines{w: &out, every: 30 * time.Second, now: func() time.Time { return now }}
	for i, frame := range []string{"\r  0% |    | (0/4)", "\r 25% |#   | (1/4)", "\r 50% |##  | (2/4)", "\r 75% |### | (3/4)", "\r100% |####| (4/4)", "\r100% |####| (4/4)", "\n"} {
		if i == 3 {
			now = now.Add(31 * time.Second)
		}
		if n, err := l.Write([]byte(frame)); n != len(frame) || err != nil {
			t.Fatalf("write %q: %d %v", frame, n, err)
		}
	}
	want := "25% |#   | (1/4)\n75% |### | (3/4)\n100% |####| (4/4)\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
