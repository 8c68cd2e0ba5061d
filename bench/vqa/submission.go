package vqa

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
	"github.com/dualtoken/evalharness/metrics"
)

var _ bench.Submitter = (*Task)(nil)

// Scorable is false for test-dev2015 and test2015, whose answers are not
// public (bench.Submitter).
func (t *Task) Scorable() bool { return t.annotated }

// Submission writes the EvalAI VQA challenge file, as LLaVA's
// scripts/convert_vqav2_for_submission.py makes it (bench.Submitter): a JSON
// array of {"question_id": int, "answer": string}, each answer the model's
// raw output through EvalAI's answer processor (metrics.VQAEvalAIProcess);
// a failed item is answered "".
//
// For val2014 and train2014 (for checking) the file holds the given items.
// For the test splits it holds every question of the split's question file,
// and for test-dev2015 every question of the full test2015 file, which EvalAI
// expects (v2_OpenEnded_mscoco_test2015_questions.json in the data root),
// in that file's order: questions without a prediction are answered "", as
// LLaVA does. Without the test2015 file it holds the test-dev2015 questions
// and says so on log.
// SubmissionExtensions: EvalAI takes a .json upload
// (bench.SubmissionExtensioner).
func (t *Task) SubmissionExtensions() []string { return []string{".json"} }

func (t *Task) Submission(items []bench.Item, recs []bench.Record, w, log io.Writer) error {
	if len(recs) != len(items) {
		return fmt.Errorf("%d records for %d items", len(recs), len(items))
	}
	answers := make(map[int64]string, len(items))
	order := make([]int64, len(items))
	for i, it := range items {
		id, err := strconv.ParseInt(it.ID, 10, 64)
		if err != nil {
			return fmt.Errorf("item %q: not a question_id: %v", it.ID, err)
		}
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return err
		}
		answers[id], order[i] = "", id
		if ok {
			answers[id] = metrics.VQAEvalAIProcess(p.Raw)
		}
	}
	if !t.annotated {
		// The whole split, the given items answered.
		order = order[:0]
		for _, it := range t.items {
			id, err := strconv.ParseInt(it.ID, 10, 64)
			if err != nil {
				return fmt.Errorf("item %q: not a question_id: %v", it.ID, err)
			}
			order = append(order, id)
		}
	}
	if t.split == "test-dev2015" {
		full := filepath.Join(t.data, QuestionsFile("test2015"))
		if _, err := os.Stat(full); os.IsNotExist(err) {
			fmt.Fprintf(log, "%s: %s not found: the submission holds the %d test-dev2015 questions only; EvalAI expects every test2015 question (put that file in the data folder to fill the others with \"\")\n", Name, full, len(order))
		} else {
			qs, err := readQuestions(full)
			if err != nil {
				return err
			}
			in := make(map[int64]bool, len(qs))
			order = order[:0]
			for _, q := range qs {
				in[q.QuestionID] = true
				order = append(order, q.QuestionID)
			}
			// LLaVA's script would drop such an answer silently; here it
			// means the wrong test2015 file.
			for _, it := range t.items {
				if id, _ := strconv.ParseInt(it.ID, 10, 64); !in[id] {
					return fmt.Errorf("%s: test-dev2015 question_id %d is not in this file (test-dev2015 is a subset of test2015)", full, id)
				}
			}
		}
	}
	return writeSubmission(w, order, answers)
}

// writeSubmission writes one {"question_id", "answer"} object per line,
// inside a JSON array; ids without an answer get "".
func writeSubmission(w io.Writer, order []int64, answers map[int64]string) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i, id := range order {
		if i > 0 {
			bw.WriteString(",")
		}
		a, err := json.Marshal(answers[id])
		if err != nil {
			return err
		}
		fmt.Fprintf(bw, "\n{\"question_id\": %d, \"answer\": %s}", id, a)
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}
