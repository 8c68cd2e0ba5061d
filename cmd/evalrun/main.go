// Command evalrun evaluates DualToken and related models: parity checks,
// tokenization, embeddings, metrics and benchmark suites.
//
// Exit codes: 0 success; 1 a comparison, check or regression failed; 2 bad
// input or usage, with one line on stderr naming what and where.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/dualtoken/evalharness/backend"
	"github.com/gomlx/compute"
)

// Globals are flags every subcommand accepts.
type Globals struct {
	Backend string `help:"Compute backend: go (default), xla:cpu, xla:cuda, xla:/abs/path/xla_cuda_plugin.so, or xladry (builds the XLA CUDA programs, runs nothing: checks the GPU path on a CPU; DUALTOKEN_XLADRY_DUMP=DIR writes them). Default from $GOMLX_BACKEND, else go." placeholder:"SPEC"`
}

type command struct {
	name, help string
	cmd        any
}

var commands []command

// register adds a subcommand; each lives in its own file.
func register(name, help string, cmd any) {
	commands = append(commands, command{name, help, cmd})
}

// exitError carries the exit code: 1 = a check failed, 2 = bad input.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// dryOut is where a command writes state that later runs resume from
// (training checkpoints, a study): on the dry XLA backend, whose outputs
// are stand-ins, out+"@xladry", so that no real run resumes from them.
func dryOut(g *Globals, out string) string {
	if !strings.HasPrefix(backend.Resolve(g.Backend), "xladry") || out == "" {
		return out
	}
	out = strings.TrimRight(out, "/") + "@xladry"
	fmt.Fprintf(os.Stderr, "evalrun: xladry dry run (programs built, nothing computed): writing to %s\n", out)
	return out
}

func usageErr(format string, args ...any) error {
	return &exitError{codeFor(2, args), fmt.Sprintf(format, args...)}
}

// codeFor is code, or exitInterrupted when one of args is an error that
// comes from Ctrl-C (a command's context cancelled by its signal handler).
func codeFor(code int, args []any) int {
	for _, a := range args {
		if e, ok := a.(error); ok && errors.Is(e, context.Canceled) {
			return exitInterrupted
		}
	}
	return code
}

// interruptedErr is a command's own account of a Ctrl-C (what was saved).
func interruptedErr(format string, args ...any) error {
	return &exitError{exitInterrupted, fmt.Sprintf(format, args...)}
}

func failErr(format string, args ...any) error {
	return &exitError{codeFor(1, args), fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var globals Globals
	sort.Slice(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
	opts := []kong.Option{
		kong.Name("evalrun"),
		kong.Description("Evaluation and benchmarking harness for the DualToken visual tokenizer and unified model.\n\nExit codes: 0 ok, 1 a comparison/check/regression failed, 2 bad input or usage, 130 interrupted (Ctrl-C; rerun to resume)."),
		kong.UsageOnError(),
		kong.Bind(&globals),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
	}
	for _, c := range commands {
		opts = append(opts, kong.DynamicCommand(c.name, c.help, "", c.cmd))
	}
	return runParser(&globals, args, opts)
}

type exitCode int

func runParser(globals *Globals, args []string, opts []kong.Option) (code int) {
	defer func() {
		if r := recover(); r != nil {
			if c, ok := r.(exitCode); ok {
				code = int(c)
				if code != 0 {
					code = 2
				}
				return
			}
			panic(r)
		}
	}()
	parser, err := kong.New(globals, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "evalrun:", err)
		return 2
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		// kong's message names the word it stopped at; say where the list is.
		help := "evalrun --help"
		for _, a := range args { // the first word that names a command
			if slices.ContainsFunc(commands, func(c command) bool { return c.name == a }) {
				help = "evalrun " + a + " --help"
				break
			}
		}
		fmt.Fprintf(os.Stderr, "evalrun: %v (see %s)\n", err, help)
		return 2
	}
	// A misspelt backend is refused by every command, whether or not it
	// needs one, naming where it came from.
	if spec, from := globals.Backend, "--backend"; spec != "" || os.Getenv(compute.ConfigEnvVar) != "" {
		if spec == "" {
			spec, from = os.Getenv(compute.ConfigEnvVar), "$"+compute.ConfigEnvVar
		}
		if err := backend.Check(spec); err != nil {
			fmt.Fprintf(os.Stderr, "evalrun: %s=%s: %s\n", from, spec, strings.TrimPrefix(err.Error(), fmt.Sprintf("backend %q: ", spec)))
			return 2
		}
	}
	if err := ctx.Run(globals); err != nil {
		var ee *exitError
		msg, code := err.Error(), 2
		if errors.As(err, &ee) {
			msg, code = ee.msg, ee.code
		}
		if code == exitInterrupted || errors.Is(err, context.Canceled) {
			return interrupted(msg)
		}
		fmt.Fprintln(os.Stderr, "evalrun:", msg)
		return code
	}
	return 0
}

// exitInterrupted is the exit code after Ctrl-C: 128 + SIGINT, as shells
// report it, so that scripts can tell it from a failure (1) or bad input (2).
const exitInterrupted = 130

// interrupted reports a command stopped by Ctrl-C in one line, on a line of
// its own on a terminal (a progress bar may have the cursor).
func interrupted(msg string) int {
	if !strings.Contains(msg, "interrupted") {
		msg = "interrupted; what finished is saved: the same command resumes"
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		fmt.Fprintln(os.Stderr) // off the "^C" and any progress bar's line
	}
	fmt.Fprintln(os.Stderr, "evalrun:", msg)
	return exitInterrupted
}
