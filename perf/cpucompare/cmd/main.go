// Command cmd merges scripts/cpu/bench.sh's measurements into the CPU
// comparison report:
//
//	go run ./perf/cpucompare/cmd -in /tmp/cpucompare -date 2026-11-27 -out reports/perf/2026-11-27-cpu
//
// writes OUT.json, OUT.md and OUT.png.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/dualtoken/evalharness/perf/cpucompare"
)

func main() {
	in := flag.String("in", "/tmp/cpucompare", "bench.sh's OUT folder (go.txt, ref.jsonl, versions.json, env.txt, load.txt)")
	date := flag.String("date", "", "report date (YYYY-MM-DD)")
	out := flag.String("out", "", "output path without extension")
	png := flag.Bool("png", true, "also write OUT.png, a bar chart of the ratios")
	var notes []string
	flag.Func("note", "a line for the report's notes (repeatable), e.g. another run's ratios", func(s string) error {
		notes = append(notes, s)
		return nil
	})
	flag.Parse()
	if *date == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "cpucompare: -date and -out are required")
		os.Exit(2)
	}
	if err := run(*in, *date, *out, *png, notes); err != nil {
		fmt.Fprintln(os.Stderr, "cpucompare:", err)
		os.Exit(1)
	}
}

func run(in, date, out string, png bool, notes []string) error {
	inputs, err := cpucompare.ReadInputs(in)
	if err != nil {
		return err
	}
	r, err := cpucompare.Merge(inputs, date)
	if err != nil {
		return err
	}
	r.Notes = append(r.Notes, notes...)
	if err := r.WriteJSON(out + ".json"); err != nil {
		return err
	}
	f, err := os.Create(out + ".md")
	if err != nil {
		return err
	}
	if err := r.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if png {
		if err := r.PlotRatios(out + ".png"); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s.json, %s.md\n", out, out)
	return r.WriteMarkdown(os.Stdout)
}
