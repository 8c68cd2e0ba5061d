package metrics

// MME, as the official eval_tool/calculation.py (BradyFU) computes it. See
// shared/design/benchmarks.md §3.
//
// Tool input: one file per subtask, lines `image\tquestion\tGT\tresponse`;
// consecutive lines pair up per image. Parsing: lowercase the response;
// exactly "yes"/"no" → that; else its first 4 characters containing "yes" →
// yes, else containing "no" → no, else "other" (always wrong).
// acc = correct/questions, acc+ = images with both answers right / images,
// subtask score = 100·acc + 100·acc+; Perception and Cognition are the plain
// sums over their subtasks, in the tool's order, unrounded.
//
// The tool reads lines with readlines(), so its response field keeps the
// trailing "\n"; that never changes the parse ("\n" can neither make nor break
// "yes"/"no" within the first 4 characters), so responses here are kept
// without it.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MMEPerception lists the perception subtasks in the tool's order.
var MMEPerception = []string{"existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR"}

// MMECognition lists the cognition subtasks in the tool's order.
var MMECognition = []string{"commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"}

// MMEParse maps a response to "yes", "no" or "other" (calculation.py
// parse_pred_ans after lowercasing).
func MMEParse(response string) string {
	r := qaPyLower(response)
	if r == "yes" || r == "no" {
		return r
	}
	prefix := r
	if rs := []rune(r); len(rs) > 4 {
		prefix = string(rs[:4])
	}
	switch {
	case strings.Contains(prefix, "yes"):
		return "yes"
	case strings.Contains(prefix, "no"):
		return "no"
	}
	return "other"
}

// MMELine is one line of the tool input.
type MMELine struct {
	Image, Question, GT, Response string
}

// MMESample is the per-question output.
type MMESample struct {
	MMELine
	Parsed  string // yes, no or other
	Correct bool
}

// MMETask is one subtask's result.
type MMETask struct {
	Name        string
	Questions   int
	Images      int // line pairs
	Correct     int
	PlusCorrect int // images with both questions right
	Other       int // responses parsed as "other"
	Acc         float64
	AccPlus     float64
	Score       float64 // 100·Acc + 100·AccPlus, max 200
	Samples     []MMESample
}

// MMEReport is the result over all 14 subtasks.
type MMEReport struct {
	Tasks      map[string]*MMETask
	Perception float64 // sum of the 10 perception scores (max 2000)
	Cognition  float64 // sum of the 4 cognition scores (max 800)
}

// MMEScoreTask scores one subtask's lines (in file order: pairs per image).
func MMEScoreTask(name string, lines []MMELine) (*MMETask, error) {
	if len(lines) == 0 {
		return nil, fmt.Errorf("mme %s: no lines", name)
	}
	if len(lines)%2 != 0 {
		return nil, fmt.Errorf("mme %s: %d lines, want an even number (two questions per image)", name, len(lines))
	}
	t := &MMETask{Name: name, Questions: len(lines), Images: len(lines) / 2, Samples: make([]MMESample, len(lines))}
	for i := 0; i < len(lines); i += 2 {
		both := 0
		for k := i; k < i+2; k++ {
			gt := qaPyLower(lines[k].GT)
			if gt != "yes" && gt != "no" {
				return nil, fmt.Errorf("mme %s: line %d: GT is %q, want yes or no", name, k+1, lines[k].GT)
			}
			p := MMEParse(lines[k].Response)
			ok := p == gt
			if ok {
				both++
				t.Correct++
			}
			if p == "other" {
				t.Other++
			}
			t.Samples[k] = MMESample{MMELine: lines[k], Parsed: p, Correct: ok}
		}
		if both == 2 {
			t.PlusCorrect++
		}
	}
	t.Acc = float64(t.Correct) / float64(t.Questions)
	t.AccPlus = float64(t.PlusCorrect) / float64(t.Images)
	t.Score = t.Acc*100 + t.AccPlus*100
	return t, nil
}

// MMETotal adds subtask scores in the given order, as the tool does.
func MMETotal(tasks []*MMETask) float64 {
	s := 0.0
	for _, t := range tasks {
		s += t.Score
	}
	return s
}

// MMEEvaluate scores all 14 subtasks (name → lines) and both totals.
func MMEEvaluate(tasks map[string][]MMELine) (*MMEReport, error) {
	rep := &MMEReport{Tasks: map[string]*MMETask{}}
	for _, group := range [][]string{MMEPerception, MMECognition} {
		var scored []*MMETask
		for _, name := range group {
			lines, ok := tasks[name]
			if !ok {
				return nil, fmt.Errorf("mme: subtask %q is missing", name)
			}
			t, err := MMEScoreTask(name, lines)
			if err != nil {
				return nil, err
			}
			rep.Tasks[name] = t
			scored = append(scored, t)
		}
		if len(group) == len(MMEPerception) {
			rep.Perception = MMETotal(scored)
		} else {
			rep.Cognition = MMETotal(scored)
		}
	}
	for name := range tasks {
		if _, ok := rep.Tasks[name]; !ok {
			return nil, fmt.Errorf("mme: unknown subtask %q", name)
		}
	}
	return rep, nil
}

// MMEEvaluateDir reads <dir>/<subtask>.txt for the 14 subtasks and scores them.
func MMEEvaluateDir(dir string) (*MMEReport, error) {
	tasks := map[string][]MMELine{}
	for _, name := range append(append([]string{}, MMEPerception...), MMECognition...) {
		lines, err := MMEReadTask(filepath.Join(dir, name+".txt"))
		if err != nil {
			return nil, err
		}
		tasks[name] = lines
	}
	return MMEEvaluate(tasks)
}

// MMEReadTask reads one tool-input file. Lines end at "\n", "\r\n" or "\r"
// (Python's universal newlines); each must have exactly 4 tab-separated fields.
func MMEReadTask(path string) ([]MMELine, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	var out []MMELine
	for i, l := range strings.Split(text, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: %d tab-separated fields, want 4 (image, question, GT, response)", path, i+1, len(f))
		}
		out = append(out, MMELine{Image: f[0], Question: f[1], GT: f[2], Response: f[3]})
	}
	return out, nil
}

// MMEWriteTask writes lines in the tool's input format; tabs and line breaks
// inside fields become spaces so that every record stays one 4-field line.
func MMEWriteTask(path string, lines []MMELine) error {
	clean := strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.Join([]string{clean.Replace(l.Image), clean.Replace(l.Question), clean.Replace(l.GT), clean.Replace(l.Response)}, "\t"))
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
