package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// judgeCall is one request the fake server saw.
type judgeCall struct {
	Model       string         `json:"model"`
	Messages    []JudgeMessage `json:"messages"`
	Temperature float64        `json:"temperature"`
	MaxTokens   int            `json:"max_tokens"`
	Auth        string         `json:"-"`
	Path        string         `json:"-"`
}

// judgeFake is a loopback chat-completions server: reply(i, call) gives the
// i-th reply's status and content (nil content = JSON null).
type judgeFake struct {
	mu    sync.Mutex
	calls []judgeCall
	reply func(i int, c judgeCall) (int, *string)
	srv   *httptest.Server
}

func newJudgeFake(t *testing.T, reply func(i int, c judgeCall) (int, *string)) *judgeFake {
	f := &judgeFake{reply: reply}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c judgeCall
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		c.Auth, c.Path = r.Header.Get("Authorization"), r.URL.Path
		f.mu.Lock()
		i := len(f.calls)
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		status, content := f.reply(i, c)
		if status != 200 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":"busy"}`, status)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"model":   c.Model + "-served",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}}},
		})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *judgeFake) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func strp(s string) *string { return &s }

func TestJudgeConfigFromEnv(t *testing.T) {
	f := newJudgeFake(t, func(int, judgeCall) (int, *string) { return 200, strp("0.7") })
	t.Setenv(JudgeEnvURL, f.srv.URL+"/v1/")
	t.Setenv(JudgeEnvModel, "grader-x")
	t.Setenv(JudgeEnvKey, "sk-test")
	j, err := NewJudge(JudgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := j.Complete(context.Background(), JudgeRequest{Messages: []JudgeMessage{{Role: "user", Content: "hi"}}, MaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	c := f.calls[0]
	if r.Content != "0.7" || r.Model != "grader-x-served" || c.Model != "grader-x" || c.Auth != "Bearer sk-test" ||
		c.Path != "/v1/chat/completions" || c.MaxTokens != 3 || c.Messages[0].Content != "hi" {
		t.Errorf("reply %+v, call %+v", r, c)
	}
	// Options win over the environment.
	j2, err := NewJudge(JudgeConfig{URL: f.srv.URL + "/chat/completions", Model: "other"})
	if err != nil || j2.Model() != "other" || j2.Endpoint() != f.srv.URL+"/chat/completions" {
		t.Errorf("%v %v", j2, err)
	}
	t.Setenv(JudgeEnvURL, "")
	if _, err := NewJudge(JudgeConfig{}); err == nil || !strings.Contains(err.Error(), JudgeEnvURL) {
		t.Errorf("no URL: err = %v", err)
	}
	if _, err := NewJudge(JudgeConfig{URL: "localhost:8000"}); err == nil {
		t.Error("URL without scheme accepted")
	}
}

func TestJudgeCache(t *testing.T) {
	f := newJudgeFake(t, func(i int, _ judgeCall) (int, *string) { return 200, strp([]string{"0.1", "0.2", "0.3", "0.4"}[i]) })
	cache := t.TempDir()
	j, err := NewJudge(JudgeConfig{URL: f.srv.URL, Model: "m", CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := JudgeRequest{Messages: []JudgeMessage{{Role: "user", Content: "grade"}}, MaxTokens: 3}
	a, _ := j.Complete(ctx, req)
	b, _ := j.Complete(ctx, req)
	if a.Content != "0.1" || b.Content != "0.1" || a.Cached || !b.Cached || f.n() != 1 {
		t.Fatalf("a %+v b %+v, %d calls", a, b, f.n())
	}
	// A fresh client over the same folder still asks nothing.
	j2, _ := NewJudge(JudgeConfig{URL: f.srv.URL, Model: "m", CacheDir: cache})
	if c, _ := j2.Complete(ctx, req); c.Content != "0.1" || !c.Cached || f.n() != 1 {
		t.Errorf("re-run: %+v, %d calls", c, f.n())
	}
	// Each key part makes a new entry.
	hot := req
	hot.Temperature = 0.5
	run := req
	run.Run = 1
	other, _ := NewJudge(JudgeConfig{URL: f.srv.URL, Model: "m2", CacheDir: cache})
	j.Complete(ctx, hot)
	j.Complete(ctx, run)
	other.Complete(ctx, req)
	if f.n() != 4 {
		t.Errorf("%d calls, want 4 (temperature, run and model each miss the cache)", f.n())
	}
	if j.CacheKey(req) == j.CacheKey(hot) || j.CacheKey(req) == j.CacheKey(run) || j.CacheKey(req) == other.CacheKey(req) {
		t.Error("cache keys collide")
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*", "*.json"))
	if len(files) != 4 {
		t.Errorf("%d cache files, want 4", len(files))
	}
}

func TestJudgeRetriesAndErrors(t *testing.T) {
	// 429 twice, then a reply.
	f := newJudgeFake(t, func(i int, _ judgeCall) (int, *string) {
		if i < 2 {
			return http.StatusTooManyRequests, nil
		}
		return 200, strp("1.0")
	})
	j, _ := NewJudge(JudgeConfig{URL: f.srv.URL, RetryWait: time.Millisecond})
	r, err := j.Complete(context.Background(), JudgeRequest{Messages: []JudgeMessage{{Role: "user", Content: "x"}}})
	if err != nil || r.Content != "1.0" || f.n() != 3 {
		t.Errorf("after 429s: %+v, %v, %d calls", r, err, f.n())
	}
	// 400 is not retried and the error names the status.
	bad := newJudgeFake(t, func(int, judgeCall) (int, *string) { return http.StatusBadRequest, nil })
	jb, _ := NewJudge(JudgeConfig{URL: bad.srv.URL, RetryWait: time.Millisecond})
	if _, err := jb.Complete(context.Background(), JudgeRequest{}); err == nil || !strings.Contains(err.Error(), "400") || bad.n() != 1 {
		t.Errorf("400: err = %v, %d calls", err, bad.n())
	}
	// Retries give up after MaxRetries.
	busy := newJudgeFake(t, func(int, judgeCall) (int, *string) { return http.StatusServiceUnavailable, nil })
	jy, _ := NewJudge(JudgeConfig{URL: busy.srv.URL, RetryWait: time.Millisecond, MaxRetries: 2})
	if _, err := jy.Complete(context.Background(), JudgeRequest{}); err == nil || busy.n() != 3 {
		t.Errorf("503: err = %v, %d calls, want 3", err, busy.n())
	}
	// A null content is reported, not an error.
	null := newJudgeFake(t, func(int, judgeCall) (int, *string) { return 200, nil })
	jn, _ := NewJudge(JudgeConfig{URL: null.srv.URL})
	if r, err := jn.Complete(context.Background(), JudgeRequest{}); err != nil || !r.Null || r.Content != "" {
		t.Errorf("null: %+v, %v", r, err)
	}
}

func TestJudgeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	j, _ := NewJudge(JudgeConfig{URL: srv.URL, Timeout: 50 * time.Millisecond, MaxRetries: -1})
	start := time.Now()
	_, err := j.Complete(context.Background(), JudgeRequest{})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
}

func TestJudgeCacheCorrupt(t *testing.T) {
	f := newJudgeFake(t, func(int, judgeCall) (int, *string) { return 200, strp("0.5") })
	cache := t.TempDir()
	j, _ := NewJudge(JudgeConfig{URL: f.srv.URL, CacheDir: cache})
	req := JudgeRequest{Messages: []JudgeMessage{{Role: "user", Content: "x"}}}
	key := j.CacheKey(req)
	os.MkdirAll(filepath.Join(cache, key[:2]), 0o755)
	os.WriteFile(filepath.Join(cache, key[:2], key+".json"), []byte("{"), 0o644)
	if _, err := j.Complete(context.Background(), req); err == nil || !strings.Contains(err.Error(), key) {
		t.Errorf("corrupt cache: err = %v", err)
	}
}
