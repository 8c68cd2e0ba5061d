package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressOut is where progress bars go: stderr itself on a terminal;
// elsewhere (a CI log, a file) a writer that keeps one line every
// progressLogEvery and the finished bar, instead of a carriage-return
// redraw every 200 ms.
func progressOut() io.Writer {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return os.Stderr
	}
	return &logLines{w: os.Stderr, every: progressLogEvery}
}

const progressLogEvery = 30 * time.Second

// logLines turns a progress bar's redraws into occasional whole lines.
type logLines struct {
	mu    sync.Mutex
	w     io.Writer
	every time.Duration
	last  time.Time // when a line was last written
	said  string    // that line
	now   func() time.Time
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The frame drawn last: the text after the last carriage return or
	// newline that is not blank.
	var frame string
	for _, seg := range bytes.FieldsFunc(p, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if s := strings.TrimSpace(string(seg)); s != "" {
			frame = s
		}
	}
	// The blank first frame ("0% ... 0 items/hr") says nothing in a log.
	if frame == "" || frame == l.said || strings.HasPrefix(frame, "0% ") || strings.Contains(frame, " 0% ") {
		return len(p), nil
	}
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	done := strings.HasPrefix(frame, "100%") || strings.Contains(frame, " 100%")
	if l.said != "" && now.Sub(l.last) < l.every && !done {
		return len(p), nil
	}
	l.last, l.said = now, frame
	if _, err := io.WriteString(l.w, frame+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}
