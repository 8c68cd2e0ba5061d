package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dualtoken/evalharness/bench"
	_ "github.com/dualtoken/evalharness/bench/suites"
)

func init() {
	register("tasks", "List the benchmark tasks: version, data layout and options (--opt key=value) with defaults.", &tasksCmd{})
}

type tasksCmd struct {
	Name string `arg:"" optional:"" help:"Only this task." placeholder:"NAME"`
	JSON bool   `name:"json" help:"Machine-readable output (schema 1)."`
}

func (c *tasksCmd) Help() string {
	return `Lists every registered task with its version, the data layout it reads under
--data, and each option it accepts (run --opt KEY=VALUE, run.yaml "extra", score
--opt), with its default and, where there is a fixed set, the allowed values. Any
other key, or a value outside the set, is refused. Options marked "scoring" only
change how saved predictions are scored, so 'evalrun score --opt' may change them;
the others decided the predictions and need a new run.

Examples:
  evalrun tasks
  evalrun tasks pope
  evalrun tasks --json`
}

// tasksJSON is the --json document; bump Schema on incompatible change.
type tasksJSON struct {
	Schema int        `json:"schema"`
	Tasks  []taskJSON `json:"tasks"`
}

type taskJSON struct {
	Name        string            `json:"name"`
	Version     int               `json:"version"`
	Description string            `json:"description"`
	Data        string            `json:"data"`
	Options     []bench.OptionDoc `json:"options"`
}

func (c *tasksCmd) Run(g *Globals) error {
	names := bench.Names()
	if c.Name != "" {
		if _, ok := bench.Lookup(c.Name); !ok {
			return usageErr("unknown task %q (known: %s)", c.Name, strings.Join(names, ", "))
		}
		names = []string{c.Name}
	}
	specs := make([]bench.Spec, len(names))
	for i, n := range names {
		specs[i], _ = bench.Lookup(n)
	}
	if c.JSON {
		return writeTasksJSON(os.Stdout, specs)
	}
	return writeTasksText(os.Stdout, specs)
}

func writeTasksJSON(w io.Writer, specs []bench.Spec) error {
	doc := tasksJSON{Schema: 1, Tasks: []taskJSON{}}
	for _, s := range specs {
		t := taskJSON{Name: s.Name, Version: s.Version, Description: s.Help, Data: s.Data, Options: []bench.OptionDoc{}}
		for _, o := range s.Options {
			if o.Values == nil {
				o.Values = []string{} // [] rather than null: always a list
			}
			t.Options = append(t.Options, o)
		}
		doc.Tasks = append(doc.Tasks, t)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func writeTasksText(w io.Writer, specs []bench.Spec) error {
	for i, s := range specs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (version %d): %s\n", s.Name, s.Version, s.Help)
		fmt.Fprintf(w, "  data: %s\n", s.Data)
		if len(s.Options) == 0 {
			fmt.Fprintln(w, "  options: none")
			continue
		}
		fmt.Fprintln(w, "  options:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range s.Options {
			def := o.Default
			if def == "" {
				def = "-"
			}
			vals := ""
			if len(o.Values) > 0 {
				sep, what := "|", "values"
				if o.List {
					sep, what = ",", "comma list of"
				}
				vals = fmt.Sprintf("  [%s %s]", what, strings.Join(o.Values, sep))
			}
			if o.Scoring {
				vals += "  (scoring: score --opt may change it)"
			}
			fmt.Fprintf(tw, "    %s\tdefault %s%s\n", o.Key, def, vals)
			fmt.Fprintf(tw, "    \t  %s\n", o.Help)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
