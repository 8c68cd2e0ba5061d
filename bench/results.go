package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ResultsSchema is the version of results.json; bump on incompatible change.
const ResultsSchema = 1

// Result is results.json: one (model, task) run. Documented in README.md.
type Result struct {
	Schema         int                `json:"schema"`
	Task           string             `json:"task"`
	TaskVersion    int                `json:"task_version"`
	Protocol       map[string]any     `json:"protocol"`
	Metrics        map[string]float64 `json:"metrics"`
	HigherIsBetter map[string]bool    `json:"higher_is_better"`
	NSamples       NSamples           `json:"n_samples"`
	Model          ModelInfo          `json:"model"`
	Run            RunInfo            `json:"run"`
	Predictions    string             `json:"predictions,omitempty"`
}

// NSamples counts items: scored + failed = total.
type NSamples struct {
	Total  int `json:"total"`
	Scored int `json:"scored"`
	Failed int `json:"failed"`
}

// RunInfo describes how the run was made.
type RunInfo struct {
	Backend        string  `json:"backend"`
	DType          string  `json:"dtype"`
	BatchSize      int     `json:"batch_size"`
	Seed           int64   `json:"seed"`
	GitCommit      string  `json:"git_commit"`
	Started        string  `json:"started"`
	WallSeconds    float64 `json:"wall_seconds"`
	ItemsPerSecond float64 `json:"items_per_second"`
	Computed       int     `json:"computed"`
	Cached         int     `json:"cached"`
}

// Write saves r as indented JSON.
func (r *Result) Write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResult loads a results.json, checking the schema version.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a results file: %v", path, err)
	}
	if r.Schema != ResultsSchema {
		return nil, fmt.Errorf("%s: field \"schema\" = %d, expected %d", path, r.Schema, ResultsSchema)
	}
	if r.Task == "" {
		return nil, fmt.Errorf("%s: field \"task\" is missing", path)
	}
	return &r, nil
}

// FindResults collects every results.json under the given files/directories.
func FindResults(paths ...string) ([]*Result, []string, error) {
	var out []*Result
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		if !st.IsDir() {
			r, err := ReadResult(p)
			if err != nil {
				return nil, nil, err
			}
			out, files = append(out, r), append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "results.json" {
				return err
			}
			r, err := ReadResult(path)
			if err != nil {
				return err
			}
			out, files = append(out, r), append(files, path)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return out, files, nil
}
