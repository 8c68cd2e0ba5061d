//go:build !cgo || noxla || !((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package scan

import . "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL

// resetXLACaches has nothing to reset in a build without XLA (xla.go).
func resetXLACaches(*Graph) {}
