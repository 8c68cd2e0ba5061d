package bench

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodResult = `{"schema": 1, "task": "pope", "task_version": 1, "protocol": {"split": "all"},
 "metrics": {"f1": 85.2, "rfid": 1.5}, "higher_is_better": {"f1": true, "rfid": false},
 "n_samples": {"total": 9, "scored": 8, "failed": 1}, "model": {"name": "m"},
 "run": {"backend": "go"}, "predictions": "predictions-1a2b.jsonl"}`

// Every way a results.json can be wrong that would otherwise give a silently
// wrong check or report is one error naming the file and the field.
func TestReadResultRefusesBadFiles(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(goodResult, old) {
			t.Fatalf("%q is not in the good file", old)
		}
		return strings.Replace(goodResult, old, new, 1)
	}
	for _, c := range []struct{ name, body, want string }{
		{"not JSON", "{", "not a results file: the JSON is cut short"},
		{"empty", " \n", "not a results file: the file is empty"},
		{"bad last byte", `{"schema": 1]`, "not a results file: invalid character ']'"},
		{"not an object", "[1]", "not a results file: want an object, found a list"},
		{"data after the object", goodResult + "{}", "not a results file: data after the top-level value"},
		{"schema missing", edit(`"schema": 1,`, ""), `field "schema" is missing (want 1)`},
		{"schema null", edit(`"schema": 1`, `"schema": null`), `field "schema" is missing`},
		{"schema newer", edit(`"schema": 1`, `"schema": 2`), `field "schema" = 2: written by a newer evalrun (this one reads schema 1)`},
		{"schema older", edit(`"schema": 1`, `"schema": 0`), `field "schema" = 0, expected 1`},
		{"schema a string", edit(`"schema": 1`, `"schema": "1"`), `field "schema": want an integer, found "1"`},
		{"schema a fraction", edit(`"schema": 1`, `"schema": 1.5`), `field "schema": want an integer, found 1.5`},
		{"task missing", edit(`"task": "pope",`, ""), `field "task" is missing`},
		{"metrics missing", edit(`"metrics": {"f1": 85.2, "rfid": 1.5},`, ""), `field "metrics" is missing or empty`},
		{"metrics empty", edit(`"metrics": {"f1": 85.2, "rfid": 1.5}`, `"metrics": {}`), `field "metrics" is missing or empty`},
		{"metric a string", edit(`"f1": 85.2`, `"f1": "85.2"`), `field "metrics" "f1": want a number, "NaN", "Infinity" or "-Infinity", found "85.2"`},
		{"metric null", edit(`"f1": 85.2`, `"f1": null`), `field "metrics" "f1": want a number, "NaN", "Infinity" or "-Infinity", found null`},
		{"metric a bool", edit(`"f1": 85.2`, `"f1": true`), `field "metrics" "f1": want a number`},
		{"metric an object", edit(`"f1": 85.2`, `"f1": {"v": 1}`), `field "metrics" "f1": want a number`},
		{"metric beyond float64", edit(`"f1": 85.2`, `"f1": 1e400`), `field "metrics" "f1": want a float64, found 1e400 (out of range)`},
		{"metric lower-case nan", edit(`"f1": 85.2`, `"f1": "nan"`), `field "metrics" "f1": want a number`},
		{"metric twice", edit(`"f1": 85.2`, `"f1": 85.2, "f1": 90`), `key "f1" appears twice in object metrics`},
		{"metrics twice by case", edit(`"metrics"`, `"Metrics": {"f1": 99}, "metrics"`), `key "metrics" appears twice in the top-level object`},
		{"task twice by Unicode folding", edit(`"task": "pope",`, `"task": "pope", "ta\u017fk": "mme",`), `key "taſk" appears twice in the top-level object`},
		{"n_samples key twice by case", edit(`"total": 9`, `"total": 9, "Total": 90`), `key "Total" appears twice in object n_samples`},
		{"direction missing", edit(`"rfid": false`, `"rfidx": false`), `field "higher_is_better" has no entry for metric "rfid"`},
		{"direction null", edit(`"rfid": false`, `"rfid": null`), `field "higher_is_better" "rfid": want true or false, found null`},
		{"direction a string", edit(`"rfid": false`, `"rfid": "false"`), `field "higher_is_better" "rfid": want true or false, found "false"`},
		{"counts disagree", edit(`"scored": 8`, `"scored": 9`), `field "n_samples": want scored + failed = total, all >= 0, found scored 9, failed 1, total 9`},
		{"negative count", edit(`"total": 9, "scored": 8, "failed": 1`, `"total": 0, "scored": 1, "failed": -1`), `field "n_samples": want scored + failed = total`},
		{"predictions outside", edit(`"predictions-1a2b.jsonl"`, `"../../elsewhere/p.jsonl"`), `field "predictions" = "../../elsewhere/p.jsonl": want a file name beside results.json`},
		{"predictions absolute", edit(`"predictions-1a2b.jsonl"`, `"/tmp/p.jsonl"`), `field "predictions" = "/tmp/p.jsonl"`},
		{"predictions in a folder", edit(`"predictions-1a2b.jsonl"`, `"sub/p.jsonl"`), `field "predictions" = "sub/p.jsonl"`},
		{"nested too deep", edit(`"split": "all"`, `"split": `+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)), "not a results file: exceeded max depth"},
		{"a count a string", edit(`"total": 9`, `"total": "9"`), `not a results file: field "n_samples.total": want an integer, found a string`},
		{"counts a string", edit(`"n_samples": {"total": 9, "scored": 8, "failed": 1}`, `"n_samples": "9"`), `field "n_samples": want an object, found a string`},
		{"metrics an array", edit(`"metrics": {"f1": 85.2, "rfid": 1.5}`, `"metrics": [85.2]`), `field "metrics": want an object, found a list`},
		{"task version a string", edit(`"task_version": 1`, `"task_version": "1"`), `field "task_version": want an integer, found a string`},
		{"model missing", edit(`"model": {"name": "m"},`, ""), `field "model"."name" is missing`},
		{"task version missing", edit(`"task_version": 1,`, ""), `field "task_version" is missing`},
		{"protocol missing", edit(`"protocol": {"split": "all"},`, ""), `field "protocol" is missing`},
		{"model unnamed", edit(`"model": {"name": "m"}`, `"model": {"name": ""}`), `field "model"."name" is missing`},
	} {
		p := filepath.Join(t.TempDir(), "results.json")
		os.WriteFile(p, []byte(c.body), 0o644)
		_, err := ReadResult(p)
		if err == nil || !strings.Contains(err.Error(), p+": ") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v\nwant one line naming %s with %q", c.name, err, p, c.want)
		}
	}
}

func TestReadResultAcceptsGoodFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "results.json")
	body := strings.Replace(goodResult, `"rfid": 1.5`, `"rfid": "Infinity", "nan": "NaN", "neg": "-Infinity"`, 1)
	body = strings.Replace(body, `"rfid": false`, `"rfid": false, "nan": true, "neg": true, "unused": true`, 1)
	// Fields added within schema 1 are read past.
	body = strings.Replace(body, `"task_version": 1,`, `"task_version": 1, "added_later": {"x": [1, 2]},`, 1)
	os.WriteFile(p, []byte(body), 0o644)
	r, err := ReadResult(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Task != "pope" || r.Metrics["f1"] != 85.2 || !math.IsInf(r.Metrics["rfid"], 1) || !math.IsNaN(r.Metrics["nan"]) || !math.IsInf(r.Metrics["neg"], -1) {
		t.Errorf("metrics %v", r.Metrics)
	}
	if !r.HigherIsBetter["f1"] || r.HigherIsBetter["rfid"] || r.NSamples != (NSamples{Total: 9, Scored: 8, Failed: 1}) || r.Predictions != "predictions-1a2b.jsonl" {
		t.Errorf("read %+v", r)
	}
	// Written again, read again: the same.
	if err := r.Write(p); err != nil {
		t.Fatal(err)
	}
	r2, err := ReadResult(p)
	if err != nil || !math.IsInf(r2.Metrics["rfid"], 1) || !math.IsNaN(r2.Metrics["nan"]) || r2.Metrics["f1"] != 85.2 {
		t.Errorf("round trip %v %v", r2, err)
	}
}

// FindResults reads each results.json once however many of the given paths
// reach it (a folder and its subfolder, the same folder twice), and names a
// path that does not exist.
func TestFindResultsReadsEachFileOnce(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"pope/m", "mme/m"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
		body := goodResult
		if sub == "mme/m" {
			body = strings.Replace(body, `"task": "pope"`, `"task": "mme"`, 1)
		}
		os.WriteFile(filepath.Join(dir, sub, "results.json"), []byte(body), 0o644)
	}
	got, files, err := FindResults(dir, dir, filepath.Join(dir, "pope"), filepath.Join(dir, "pope", "m", "results.json"))
	if err != nil || len(got) != 2 || len(files) != 2 {
		t.Errorf("got %d results %v, %v; want the 2 files once each", len(got), files, err)
	}
	missing := filepath.Join(dir, "nope")
	if _, _, err := FindResults(missing); err == nil || err.Error() != missing+" does not exist (want a results.json or a folder of runs)" {
		t.Errorf("missing path: %v", err)
	}
}
