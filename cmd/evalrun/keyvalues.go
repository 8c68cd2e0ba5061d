package main

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// keyValues is a repeatable KEY=VALUE flag that refuses a key given twice.
// (kong's own map flag keeps the last value silently, so `--opt splits=random
// --opt splits=popular` would score one POPE split where two were meant.)
type keyValues map[string]string

// Decode takes one KEY=VALUE; the value may contain "=", ";" and ",".
func (kv *keyValues) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("KEY=VALUE", &s); err != nil {
		return err
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	if *kv == nil {
		*kv = keyValues{}
	}
	if old, dup := (*kv)[k]; dup {
		return fmt.Errorf("%q is given twice (%s=%s, then %s=%s): give each key once; a list takes one comma-separated value, e.g. %s=%s,%s", k, k, old, k, v, k, old, v)
	}
	(*kv)[k] = v
	return nil
}
