package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Submitter is implemented by a task whose official numbers come from an
// outside server (VQAv2 test-dev on EvalAI): it writes the file that server
// takes from the saved predictions, so that `evalrun score
// --export-submission` can produce it without the model.
type Submitter interface {
	// Submission writes the submission file for items and their records
	// (one per item, same order; a failed record is the task's to answer,
	// usually with an empty answer). log receives one-line notices, such
	// as a file missing that would have completed the submission.
	Submission(items []Item, recs []Record, w, log io.Writer) error
	// Scorable reports whether Score can run here: false for a split whose
	// answers are not public, where the submission is the only output.
	Scorable() bool
}

// PathSubmitter is a Submitter whose file format follows the name it is
// written to (MMBench: .xlsx, or .tsv as VLMEvalKit writes it).
type PathSubmitter interface {
	SubmissionTo(path string, items []Item, recs []Record, w, log io.Writer) error
}

// SubmissionExtensioner is a Submitter whose file name must end in one of
// SubmissionExtensions (lower case, with the dot): the server, or the
// format chosen by the name, needs it.
type SubmissionExtensioner interface {
	SubmissionExtensions() []string
}

// SubmissionOnly reports whether task can only be submitted, not scored
// here (a Submitter on a split without public answers).
func SubmissionOnly(task Task) bool {
	s, ok := task.(Submitter)
	return ok && !s.Scorable()
}

// ExportSubmission writes task's submission file to path from the saved
// predictions in predPath, over the items sel picks (each needs a saved
// prediction, as for Rescore). The file is written whole or not at all.
// The task must be a Submitter.
func ExportSubmission(task Task, predPath string, sel Selection, path string, log io.Writer) error {
	sub, ok := task.(Submitter)
	if !ok {
		return fmt.Errorf("task %s has no submission format", task.Name())
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("submission file %s is a folder: give a file name", path)
	}
	if se, ok := task.(SubmissionExtensioner); ok {
		exts := se.SubmissionExtensions()
		if !slices.Contains(exts, strings.ToLower(filepath.Ext(path))) {
			return fmt.Errorf("submission file %s: %s takes a name ending in %s", path, task.Name(), strings.Join(exts, " or "))
		}
	}
	items, err := task.Items()
	if err != nil {
		return err
	}
	if err := checkItemIDs(task.Name(), items); err != nil {
		return err
	}
	if items, err = selectItems(items, sel.Subset, sel.Limit); err != nil {
		return fmt.Errorf("%s: %w", task.Name(), err)
	}
	cached, err := LoadRecords(predPath)
	if err != nil {
		return err
	}
	recs := make([]Record, len(items))
	for i, it := range items {
		r, ok := cached[it.ID]
		if !ok {
			return fmt.Errorf("%s: no prediction for item %q: run the model first (evalrun run)", predPath, it.ID)
		}
		recs[i] = r
	}
	if log == nil {
		log = os.Stderr
	}
	// A temporary file beside path, renamed into place: an error midway
	// leaves no truncated submission behind.
	if st, err := os.Stat(filepath.Dir(path)); err != nil {
		return fmt.Errorf("submission file %s: its folder %s does not exist", path, filepath.Dir(path))
	} else if !st.IsDir() {
		return fmt.Errorf("submission file %s: %s is a file, not a folder", path, filepath.Dir(path))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("submission file %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())              // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it private
		tmp.Close()
		return err
	}
	write := sub.Submission
	if ps, ok := task.(PathSubmitter); ok {
		write = func(items []Item, recs []Record, w, log io.Writer) error {
			return ps.SubmissionTo(path, items, recs, w, log)
		}
	}
	if err := write(items, recs, tmp, log); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: submission: %w", task.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
