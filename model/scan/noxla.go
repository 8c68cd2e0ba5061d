//go:build !cgo || noxla

package scan

import . "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

// resetXLACaches has nothing to reset in a build without XLA (xla.go).
func resetXLACaches(*Graph) {}
