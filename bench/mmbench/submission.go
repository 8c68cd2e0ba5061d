package mmbench

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"

	"github.com/dualtoken/evalharness/bench"
	"github.com/dualtoken/evalharness/bench/qa"
)

var _ bench.Submitter = (*Task)(nil)

// droppedColumns are the TSV columns LLaVA's
// scripts/convert_mmbench_for_submission.py leaves out of the upload file.
var droppedColumns = map[string]bool{"hint": true, "category": true, "source": true, "image": true, "comment": true, "l2-category": true}

// predictionAt is where that script inserts the prediction column among the
// columns kept: after D in the released files (index, question, A–D).
const predictionAt = 6

// excelCellChars is the most UTF-16 units an Excel cell holds; excelize
// cuts longer text.
const excelCellChars = 32767

// Scorable is false for a TSV none of whose rows has an answer (the test
// splits): there the run records its predictions and `evalrun score
// --export-submission` writes the file MMBench's server scores
// (bench.Submitter).
func (t *Task) Scorable() bool {
	for _, it := range t.items {
		if it.Payload.(pass).Row.Answer != "" {
			return true
		}
	}
	return false
}

// Submission writes the .xlsx that MMBench's evaluation server takes, as
// LLaVA's scripts/convert_mmbench_for_submission.py makes it
// (bench.Submitter): one sheet, Sheet1, whose header is the TSV's columns
// less hint, category, source, image, comment and l2-category, with
// "prediction" inserted as the 7th column (index, question, A, B, C, D,
// prediction, answer, split for the released files; no answer column on the
// test splits). Rows are the TSV's rows in the file's order, circular passes
// included as their own rows (index + i·1e6); each cell holds the TSV's
// text, index as a number. The prediction is the model's raw answer with
// surrounding white space trimmed, as LLaVA writes it: the server reads the
// letter out of it itself. A failed item's prediction is empty.
//
// On a split with answers the file holds the given items' rows, so that a
// limited run can be checked against the server; on a split without them
// it holds every row of the TSV, those not asked left empty (said on log),
// as the server expects the whole split. Passes circularised here (a TSV
// without pass rows) are not rows of the TSV and are left out, with a
// notice: each row carries its first pass's prediction.
func (t *Task) Submission(items []bench.Item, recs []bench.Record, w, log io.Writer) error {
	return t.writeSubmission(false, items, recs, w, log)
}

// SubmissionTo is Submission with the format chosen by path's extension:
// ".tsv" writes the same table as tab-separated text with every field
// quoted (VLMEvalKit's dump of a .tsv; MMBench's server, VLMEvalKit's
// scripts/mmb_eval_gradio.py, takes .xlsx, .tsv and .csv); ".xlsx" the
// workbook. It is for bench.ExportSubmission, which knows the path.
func (t *Task) SubmissionTo(path string, items []bench.Item, recs []bench.Record, w, log io.Writer) error {
	return t.writeSubmission(strings.EqualFold(filepath.Ext(path), ".tsv"), items, recs, w, log)
}

// SubmissionExtensions: the two formats SubmissionTo writes
// (bench.SubmissionExtensioner).
func (t *Task) SubmissionExtensions() []string { return []string{".xlsx", ".tsv"} }

// subTable is the upload file's content: its header and rows, cells as
// text ("" for none); indexCol is the column of the index, -1 if none.
type subTable struct {
	head     []string
	rows     [][]string
	indexCol int
}

func (t *Task) writeSubmission(tsv bool, items []bench.Item, recs []bench.Record, w, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	tab, err := t.submissionTable(items, recs, log)
	if err != nil {
		return err
	}
	if tsv {
		return writeSubmissionTSV(w, tab)
	}
	return writeSubmissionXLSX(w, tab, log)
}

// submissionTable re-reads the TSV (its order and cells as given, the
// images skipped) and fills in the predictions of items.
func (t *Task) submissionTable(items []bench.Item, recs []bench.Record, log io.Writer) (*subTable, error) {
	if len(recs) != len(items) {
		return nil, fmt.Errorf("%d records for %d items", len(recs), len(items))
	}
	preds := make(map[int64]string, len(items))
	var failed int
	var generated []int64
	for i, it := range items {
		r := it.Payload.(pass).Row
		p, ok, err := qa.Decode(recs[i])
		if err != nil {
			return nil, err
		}
		preds[r.Index] = "" // asked
		if ok {
			preds[r.Index] = strings.TrimSpace(p.Raw)
		} else {
			failed++
		}
		if !t.inFile && r.Index != r.Group() {
			generated = append(generated, r.Index)
		}
	}
	f, err := os.Open(t.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Name, err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord, cr.ReuseRecord = '\t', true, -1, true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: header: %v", Name, t.path, err)
	}
	tab := &subTable{indexCol: -1}
	var keep []int // the TSV column of each kept column
	src := -1
	for i, h := range head {
		// A prediction column in the data (a prediction file given as data)
		// gives way to this run's.
		if droppedColumns[h] || h == "prediction" {
			continue
		}
		if h == "index" {
			src = i
			tab.indexCol = len(keep)
		}
		keep = append(keep, i)
		tab.head = append(tab.head, h)
	}
	if src < 0 {
		return nil, fmt.Errorf("%s: %s: column \"index\" is missing", Name, t.path)
	}
	at := min(predictionAt, len(keep))
	tab.head = insert(tab.head, at, "prediction")
	if tab.indexCol >= at {
		tab.indexCol++
	}
	scorable := t.Scorable()
	inFile := map[int64]bool{}
	notAsked := 0
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", Name, t.path, err)
		}
		var cell string
		if src < len(rec) {
			cell = rec[src]
		}
		idx, err := strconv.ParseInt(cell, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: row %d: index %q is not an integer", Name, t.path, row, cell)
		}
		inFile[idx] = true
		pred, asked := preds[idx]
		if !asked {
			if scorable {
				continue // not among the given items
			}
			notAsked++
		}
		out := make([]string, 0, len(keep)+1)
		for _, c := range keep {
			if c < len(rec) {
				// A copy: a cell of the record would keep its whole line,
				// image included, alive.
				out = append(out, strings.Clone(rec[c]))
			} else {
				out = append(out, "")
			}
		}
		tab.rows = append(tab.rows, insert(out, at, pred))
	}
	gen := map[int64]bool{}
	for _, idx := range generated {
		gen[idx] = true
	}
	for _, it := range items {
		if idx := it.Payload.(pass).Row.Index; !inFile[idx] && !gen[idx] {
			return nil, fmt.Errorf("%s: %s: index %d, which was asked, is no longer in the file", Name, t.path, idx)
		}
	}
	if len(generated) > 0 {
		fmt.Fprintf(log, "%s: %s has no circular pass rows: the %d passes generated here are not in the submission, which holds the TSV's rows, each with its first pass's prediction\n", Name, t.path, len(generated))
	}
	if failed > 0 {
		fmt.Fprintf(log, "%s: %d items failed (no answer, see the predictions file): their prediction is empty\n", Name, failed)
	}
	if notAsked > 0 {
		fmt.Fprintf(log, "%s: %d of the %d rows of %s were not asked (--limit, --subset or circular=false): their prediction is empty; the server expects every row\n", Name, notAsked, len(tab.rows), t.path)
	}
	return tab, nil
}

func insert(s []string, at int, v string) []string {
	s = append(s, "")
	copy(s[at+1:], s[at:])
	s[at] = v
	return s
}

// writeSubmissionXLSX writes tab as Sheet1 of an .xlsx: empty cells left
// out (pandas' NaN), the index as a number.
func writeSubmissionXLSX(w io.Writer, tab *subTable, log io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := f.GetSheetName(0)
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	vals := make([]any, len(tab.head))
	for i, h := range tab.head {
		vals[i] = h
	}
	if err := sw.SetRow("A1", vals); err != nil {
		return err
	}
	cut := 0
	for r, row := range tab.rows {
		for i, c := range row {
			vals[i] = nil
			if c == "" {
				continue
			}
			vals[i] = c
			if i == tab.indexCol {
				if v, err := strconv.ParseInt(c, 10, 64); err == nil {
					vals[i] = v
				}
			}
			if len(c) > excelCellChars && len(utf16.Encode([]rune(c))) > excelCellChars {
				cut++
			}
		}
		cell, err := excelize.CoordinatesToCellName(1, r+2)
		if err != nil {
			return err
		}
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if cut > 0 {
		fmt.Fprintf(log, "%s: %d cells are longer than an Excel cell holds (%d characters) and were cut; a .tsv submission keeps them whole\n", Name, cut, excelCellChars)
	}
	return f.Write(w)
}

// writeSubmissionTSV writes tab tab-separated, every field quoted and its
// quotes doubled, as pandas' to_csv with csv.QUOTE_ALL.
func writeSubmissionTSV(w io.Writer, tab *subTable) error {
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(`"` + strings.ReplaceAll(c, `"`, `""`) + `"`)
		}
		b.WriteByte('\n')
	}
	line(tab.head)
	for _, row := range tab.rows {
		line(row)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
