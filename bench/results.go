package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dualtoken/evalharness/internal/jsonerr"
)

// ResultsSchema is the version of results.json; bump on incompatible change.
const ResultsSchema = 1

// Result is results.json: one (model, task) run. Documented in README.md.
//
// A metric that is NaN or infinite (PSNR of a perfect reconstruction, an
// entropy of no codes) is written as the JSON string "NaN", "Infinity" or
// "-Infinity" (JSON has no such numbers) and read back as that value; see
// JSONFloat.
type Result struct {
	Schema         int                `json:"schema"`
	Task           string             `json:"task"`
	TaskVersion    int                `json:"task_version"`
	Protocol       map[string]any     `json:"protocol"`
	Metrics        map[string]float64 `json:"metrics"`
	HigherIsBetter map[string]bool    `json:"higher_is_better"`
	// Informational metrics are reported but never judged by check.
	Informational []string  `json:"informational,omitempty"`
	NSamples      NSamples  `json:"n_samples"`
	Model         ModelInfo `json:"model"`
	Run           RunInfo   `json:"run"`
	Predictions   string    `json:"predictions,omitempty"`
	// DataFiles records the SHA-256 (hex) of each fixed data file the task
	// read (annotations, question files, ground truth, class lists; never
	// images), keyed by its path relative to the data root: see DataFiler.
	DataFiles map[string]string `json:"data_files,omitempty"`
}

// NSamples counts items: scored + failed = total. IDsSHA256 fingerprints
// which items they were (ItemsDigest), so that check can tell two runs on
// different items apart even when their counts agree.
type NSamples struct {
	Total     int    `json:"total"`
	Scored    int    `json:"scored"`
	Failed    int    `json:"failed"`
	IDsSHA256 string `json:"ids_sha256,omitempty"`
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
	// The item selection, which score reuses: the first Limit items
	// (0 = all) of those listed in the file Subset beside results.json
	// ("" = all items).
	Limit  int    `json:"limit,omitempty"`
	Subset string `json:"subset,omitempty"`
}

// JSONFloat is a float64 whose JSON form is a number, or for the values JSON
// cannot hold the string "NaN", "Infinity" or "-Infinity" (encoding/json
// refuses to write them, which would lose a whole results or predictions
// file to one undefined metric). Decoding accepts exactly those forms: null
// and other strings are errors, not a silent 0.
type JSONFloat float64

// MarshalJSON implements json.Marshaler.
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	switch v := float64(f); {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *JSONFloat) UnmarshalJSON(b []byte) error {
	v, err := parseJSONFloat(b)
	if err != nil {
		return err
	}
	*f = JSONFloat(v)
	return nil
}

// parseJSONFloat reads one JSON value as JSONFloat does.
func parseJSONFloat(b []byte) (float64, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err == nil {
			switch s {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
	} else if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') && json.Valid(b) {
		v, err := strconv.ParseFloat(string(b), 64)
		if err == nil {
			return v, nil
		}
		return 0, fmt.Errorf("want a float64, found %s (out of range)", clip(b))
	}
	return 0, fmt.Errorf(`want a number, "NaN", "Infinity" or "-Infinity", found %s`, clip(b))
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const max = 40
	if len(b) <= max {
		return string(b)
	}
	n := max
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}

// resultAlias has Result's fields without its methods.
type resultAlias Result

// resultJSON is Result as written: metrics through JSONFloat (the outer
// Metrics field hides the embedded one for encoding/json).
type resultJSON struct {
	*resultAlias
	Metrics map[string]JSONFloat `json:"metrics"`
}

// MarshalJSON writes r with non-finite metrics as strings (see JSONFloat).
func (r Result) MarshalJSON() ([]byte, error) {
	out := resultJSON{resultAlias: (*resultAlias)(&r)}
	if r.Metrics != nil {
		out.Metrics = make(map[string]JSONFloat, len(r.Metrics))
		for k, v := range r.Metrics {
			out.Metrics[k] = JSONFloat(v)
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes. It checks only the JSON
// types; ReadResult also checks the contents.
func (r *Result) UnmarshalJSON(b []byte) error {
	var in resultJSON
	in.resultAlias = (*resultAlias)(r)
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	r.Metrics = nil
	if in.Metrics != nil {
		r.Metrics = make(map[string]float64, len(in.Metrics))
		for k, v := range in.Metrics {
			r.Metrics[k] = float64(v)
		}
	}
	return nil
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

// ReadResult loads a results.json and checks it: schema version, task,
// metrics (each a number or a JSONFloat string, with its direction in
// higher_is_better), sample counts, and a predictions file name that stays
// beside the results. Errors name the file and the field.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseResult(path, b)
}

// parseResult is ReadResult on the bytes of file path.
func parseResult(path string, b []byte) (*Result, error) {
	if err := checkJSONKeys(b); err != nil {
		return nil, fmt.Errorf("%s: not a results file: %v", path, err)
	}
	// Schema first: a newer file may have changed any other field.
	var head struct {
		Schema *json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s: not a results file: %v", path, jsonerr.Describe(err))
	}
	if head.Schema == nil {
		return nil, fmt.Errorf("%s: field \"schema\" is missing (want %d)", path, ResultsSchema)
	}
	var schema int
	if err := json.Unmarshal(*head.Schema, &schema); err != nil {
		return nil, fmt.Errorf("%s: field \"schema\": want an integer, found %s", path, clip(*head.Schema))
	}
	switch {
	case schema > ResultsSchema:
		return nil, fmt.Errorf("%s: field \"schema\" = %d: written by a newer evalrun (this one reads schema %d)", path, schema, ResultsSchema)
	case schema != ResultsSchema:
		return nil, fmt.Errorf("%s: field \"schema\" = %d, expected %d", path, schema, ResultsSchema)
	}
	// Metrics one by one, so that an error names the metric.
	var raw struct {
		*resultAlias
		Metrics        map[string]json.RawMessage `json:"metrics"`
		HigherIsBetter map[string]json.RawMessage `json:"higher_is_better"`
		DataFiles      map[string]json.RawMessage `json:"data_files"`
	}
	r := &Result{}
	raw.resultAlias = (*resultAlias)(r)
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a results file: %v", path, jsonerr.Describe(err))
	}
	if r.Task == "" {
		return nil, fmt.Errorf("%s: field \"task\" is missing", path)
	}
	if r.TaskVersion == 0 {
		return nil, fmt.Errorf("%s: field \"task_version\" is missing (want the task's version, a positive integer)", path)
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) == nil && top["protocol"] == nil { // absent (null: a task without options)
		return nil, fmt.Errorf("%s: field \"protocol\" is missing (the options the run used)", path)
	}
	if r.Model.Name == "" {
		return nil, fmt.Errorf("%s: field \"model\".\"name\" is missing (check and report pair runs by it)", path)
	}
	if len(raw.Metrics) == 0 {
		return nil, fmt.Errorf("%s: field \"metrics\" is missing or empty (a check or report would compare nothing)", path)
	}
	r.Metrics = make(map[string]float64, len(raw.Metrics))
	r.HigherIsBetter = make(map[string]bool, len(raw.Metrics))
	for name, v := range raw.Metrics {
		f, err := parseJSONFloat(v)
		if err != nil {
			return nil, fmt.Errorf("%s: field \"metrics\" %q: %v", path, name, err)
		}
		r.Metrics[name] = f
		d, ok := raw.HigherIsBetter[name]
		if !ok {
			return nil, fmt.Errorf("%s: field \"higher_is_better\" has no entry for metric %q (want true or false)", path, name)
		}
		switch string(bytes.TrimSpace(d)) {
		case "true":
			r.HigherIsBetter[name] = true
		case "false":
			r.HigherIsBetter[name] = false
		default:
			return nil, fmt.Errorf("%s: field \"higher_is_better\" %q: want true or false, found %s", path, name, clip(d))
		}
	}
	for _, name := range r.Informational {
		if _, ok := r.Metrics[name]; !ok {
			return nil, fmt.Errorf("%s: field \"informational\" names %q, which is not a metric", path, name)
		}
	}
	if n := r.NSamples; n.Total < 0 || n.Scored < 0 || n.Failed < 0 || n.Scored+n.Failed != n.Total {
		return nil, fmt.Errorf("%s: field \"n_samples\": want scored + failed = total, all >= 0, found scored %d, failed %d, total %d", path, n.Scored, n.Failed, n.Total)
	}
	for _, f := range []struct{ name, value string }{{"predictions", r.Predictions}, {"run.subset", r.Run.Subset}} {
		if p := f.value; p != "" && (!filepath.IsLocal(p) || filepath.Base(p) != p || strings.ContainsAny(p, `/\`)) {
			return nil, fmt.Errorf("%s: field \"%s\" = %q: want a file name beside results.json (no folder)", path, f.name, p)
		}
	}
	dataFiles, err := parseDataFiles(raw.DataFiles)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	r.DataFiles = dataFiles
	if r.Run.Limit < 0 {
		return nil, fmt.Errorf("%s: field \"run.limit\" = %d: want a positive number of items, or none for all", path, r.Run.Limit)
	}
	return r, nil
}

// checkJSONKeys parses b as one JSON value and refuses an object key given
// twice: encoding/json would silently keep the last. The keys of
// results.json's own objects are also compared as encoding/json matches
// them to fields, ignoring case ("Metrics" fills metrics too); metric and
// protocol names are compared exactly.
func checkJSONKeys(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("the file is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := walkJSON(dec, "", true); err != nil {
		// encoding/json says "unexpected end of JSON input" for a value the
		// file ends inside (a bad last byte is another syntax error).
		var syn *json.SyntaxError
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.As(err, &syn) && strings.Contains(syn.Error(), "unexpected end of JSON input") {
			return fmt.Errorf("the JSON is cut short (the file ends inside a value)")
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the top-level value")
	}
	return nil
}

// walkJSON reads one value from dec. fold: the value, if an object, is one
// of results.json's structs (keys matched ignoring case).
// (json.Decoder refuses nesting deeper than encoding/json's limit.)
func walkJSON(dec *json.Decoder, at string, fold bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k := kt.(string)
			key := k
			if fold {
				key = foldKey(k)
			}
			if seen[key] {
				return fmt.Errorf("key %q appears twice in %s", k, where(at))
			}
			seen[key] = true
			// Only the top-level object's n_samples, model and run are structs.
			sub := at == "" && (key == foldKey("n_samples") || key == foldKey("model") || key == foldKey("run"))
			child := at + "." + k
			if len(at) > 100 {
				child = at // deep enough to say where; no quadratic names
			}
			if err := walkJSON(dec, child, sub); err != nil {
				return err
			}
		}
		_, err := dec.Token() // '}'
		return err
	case json.Delim('['):
		for dec.More() {
			if err := walkJSON(dec, at, false); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}

// foldKey maps the keys encoding/json takes for one field name (it matches
// names as bytes.EqualFold does: "taſk" fills "task") to one string: each
// rune becomes the smallest of its case-folding orbit.
func foldKey(k string) string {
	return strings.Map(func(r rune) rune {
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				return r2
			}
			r = r2
		}
	}, k)
}

func where(at string) string {
	if at == "" {
		return "the top-level object"
	}
	return "object " + strings.TrimPrefix(at, ".")
}

// FindResults collects every results.json under the given files/directories.
func FindResults(paths ...string) ([]*Result, []string, error) {
	var out []*Result
	var files []string
	var seen []os.FileInfo // a file reached twice (R and R/pope given) is read once
	add := func(path string) error {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		for _, s := range seen {
			if os.SameFile(s, st) {
				return nil
			}
		}
		r, err := ReadResult(path)
		if err != nil {
			return err
		}
		seen = append(seen, st)
		out, files = append(out, r), append(files, path)
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s does not exist (want a results.json or a folder of runs)", p)
		}
		if err != nil {
			return nil, nil, err
		}
		if !st.IsDir() {
			if err := add(p); err != nil {
				return nil, nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "results.json" {
				return err
			}
			return add(path)
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return out, files, nil
}
