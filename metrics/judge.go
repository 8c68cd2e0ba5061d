package metrics

// An OpenAI-compatible chat-completions client for LLM-graded benchmarks
// (MM-Vet; optionally MMBench/POPE answer matching). Every reply is cached on
// disk under a hash of (model, messages, temperature, max_tokens), so a re-run
// asks nothing twice; Run > 0 adds the run index to the key so that the
// paper's repeated grading runs stay distinct.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environment variables NewJudge reads for fields left empty.
const (
	JudgeEnvURL   = "DUALTOKEN_JUDGE_URL"   // base URL, e.g. http://host:8000/v1
	JudgeEnvModel = "DUALTOKEN_JUDGE_MODEL" // model name
	JudgeEnvKey   = "OPENAI_API_KEY"        // bearer token (optional for local servers)
)

// JudgeDefaultModel is MM-Vet's grader.
const JudgeDefaultModel = "gpt-4-0613"

// JudgeConfig configures a Judge; empty fields fall back to the environment,
// then to defaults.
type JudgeConfig struct {
	// URL is the API base (".../v1"; "/chat/completions" is appended) or the
	// full chat-completions endpoint. Required (here or in DUALTOKEN_JUDGE_URL).
	URL    string
	Model  string // default JudgeDefaultModel
	APIKey string // sent as "Authorization: Bearer ..." when set
	// Timeout bounds one HTTP request (default 60 s).
	Timeout time.Duration
	// CacheDir holds one JSON file per reply; "" disables the cache.
	CacheDir string
	// MaxRetries is how often a request is retried after HTTP 429/5xx or a
	// transport error (default 5); RetryWait is the first back-off (default
	// 2 s, doubling up to 60 s; a Retry-After header wins).
	MaxRetries int
	RetryWait  time.Duration
	// Client overrides the HTTP client (tests); its Timeout is left as is.
	Client *http.Client
}

// Judge is a chat-completions client with an on-disk reply cache. It is safe
// for concurrent use.
type Judge struct {
	endpoint string
	model    string
	key      string
	cacheDir string
	retries  int
	wait     time.Duration
	client   *http.Client
}

// JudgeMessage is one chat message.
type JudgeMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// JudgeRequest is one completion request.
type JudgeRequest struct {
	Messages    []JudgeMessage
	Temperature float64
	MaxTokens   int // 0 = not sent
	Run         int // grading-run index; part of the cache key when > 0
}

// JudgeResponse is the first choice of a reply.
type JudgeResponse struct {
	Content string // "" when the server sent null
	Null    bool   // message.content was null
	Model   string // the model the server says answered
	Cached  bool   // served from the cache
}

// NewJudge builds a client from cfg and the environment.
func NewJudge(cfg JudgeConfig) (*Judge, error) {
	if cfg.URL == "" {
		cfg.URL = os.Getenv(JudgeEnvURL)
	}
	if cfg.Model == "" {
		cfg.Model = os.Getenv(JudgeEnvModel)
	}
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv(JudgeEnvKey)
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("judge: no endpoint: set %s (an OpenAI-compatible base URL such as http://localhost:8000/v1) or pass the URL", JudgeEnvURL)
	}
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("judge: URL %q must start with http:// or https://", cfg.URL)
	}
	if cfg.Model == "" {
		cfg.Model = JudgeDefaultModel
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 2 * time.Second
	}
	endpoint := strings.TrimRight(cfg.URL, "/")
	if !strings.HasSuffix(endpoint, "/chat/completions") {
		endpoint += "/chat/completions"
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("judge: cache dir: %v", err)
		}
	}
	return &Judge{endpoint: endpoint, model: cfg.Model, key: cfg.APIKey, cacheDir: cfg.CacheDir,
		retries: cfg.MaxRetries, wait: cfg.RetryWait, client: client}, nil
}

// Model is the model name requests carry.
func (j *Judge) Model() string { return j.model }

// Endpoint is the chat-completions URL requests go to.
func (j *Judge) Endpoint() string { return j.endpoint }

// CacheKey is the hex SHA-256 naming req's cache entry.
func (j *Judge) CacheKey(req JudgeRequest) string {
	k := struct {
		Model       string         `json:"model"`
		Messages    []JudgeMessage `json:"messages"`
		Temperature string         `json:"temperature"`
		MaxTokens   int            `json:"max_tokens"`
		Run         int            `json:"run,omitempty"`
	}{j.model, req.Messages, strconv.FormatFloat(req.Temperature, 'g', -1, 64), req.MaxTokens, req.Run}
	b, _ := json.Marshal(k)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

type judgeCacheEntry struct {
	Key         string         `json:"key"`
	Model       string         `json:"model"`
	Messages    []JudgeMessage `json:"messages"`
	Temperature float64        `json:"temperature"`
	MaxTokens   int            `json:"max_tokens"`
	Run         int            `json:"run,omitempty"`
	Content     string         `json:"content"`
	Null        bool           `json:"null,omitempty"`
	ReplyModel  string         `json:"reply_model"`
}

func (j *Judge) cachePath(key string) string {
	return filepath.Join(j.cacheDir, key[:2], key+".json")
}

// Complete returns the reply to req, from the cache when it has it.
func (j *Judge) Complete(ctx context.Context, req JudgeRequest) (JudgeResponse, error) {
	key := j.CacheKey(req)
	if j.cacheDir != "" {
		if raw, err := os.ReadFile(j.cachePath(key)); err == nil {
			var e judgeCacheEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				return JudgeResponse{}, fmt.Errorf("judge: cache file %s: %v", j.cachePath(key), err)
			}
			return JudgeResponse{Content: e.Content, Null: e.Null, Model: e.ReplyModel, Cached: true}, nil
		}
	}
	resp, err := j.post(ctx, req)
	if err != nil {
		return JudgeResponse{}, err
	}
	if j.cacheDir != "" {
		e := judgeCacheEntry{Key: key, Model: j.model, Messages: req.Messages, Temperature: req.Temperature,
			MaxTokens: req.MaxTokens, Run: req.Run, Content: resp.Content, Null: resp.Null, ReplyModel: resp.Model}
		if err := judgeWriteFile(j.cachePath(key), e); err != nil {
			return resp, fmt.Errorf("judge: writing cache: %v", err)
		}
	}
	return resp, nil
}

func judgeWriteFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// judgeHTTPError is a non-2xx reply.
type judgeHTTPError struct {
	status int
	body   string
	after  time.Duration
}

func (e *judgeHTTPError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.status, e.body)
}

func (j *Judge) post(ctx context.Context, req JudgeRequest) (JudgeResponse, error) {
	body := map[string]any{"model": j.model, "messages": req.Messages, "temperature": req.Temperature}
	if req.MaxTokens > 0 {
		body["max_tokens"] = req.MaxTokens
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return JudgeResponse{}, err
	}
	wait := j.wait
	for attempt := 0; ; attempt++ {
		resp, err := j.postOnce(ctx, payload)
		if err == nil {
			return resp, nil
		}
		var he *judgeHTTPError
		retryable := !errors.As(err, &he) || he.status == http.StatusTooManyRequests || he.status >= 500
		if ctx.Err() != nil || !retryable || attempt >= j.retries {
			return JudgeResponse{}, fmt.Errorf("judge: POST %s (model %s): %v", j.endpoint, j.model, err)
		}
		d := wait
		if he != nil && he.after > 0 {
			d = he.after
		}
		select {
		case <-ctx.Done():
			return JudgeResponse{}, fmt.Errorf("judge: POST %s: %v", j.endpoint, ctx.Err())
		case <-time.After(d):
		}
		wait = min(2*wait, 60*time.Second)
	}
}

func (j *Judge) postOnce(ctx context.Context, payload []byte) (JudgeResponse, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, j.endpoint, bytes.NewReader(payload))
	if err != nil {
		return JudgeResponse{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if j.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+j.key)
	}
	hresp, err := j.client.Do(hreq)
	if err != nil {
		return JudgeResponse{}, err
	}
	defer hresp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(hresp.Body, 8<<20))
	if err != nil {
		return JudgeResponse{}, err
	}
	if hresp.StatusCode/100 != 2 {
		e := &judgeHTTPError{status: hresp.StatusCode, body: judgeSnippet(raw)}
		if s, err := strconv.Atoi(hresp.Header.Get("Retry-After")); err == nil && s >= 0 {
			e.after = time.Duration(s) * time.Second
		}
		return JudgeResponse{}, e
	}
	var out struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return JudgeResponse{}, &judgeHTTPError{status: 502, body: "reply is not JSON: " + judgeSnippet(raw)}
	}
	if len(out.Choices) == 0 {
		return JudgeResponse{}, &judgeHTTPError{status: 502, body: "reply has no choices: " + judgeSnippet(raw)}
	}
	r := JudgeResponse{Model: out.Model}
	if c := out.Choices[0].Message.Content; c != nil {
		r.Content = *c
	} else {
		r.Null = true
	}
	return r, nil
}

func judgeSnippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
