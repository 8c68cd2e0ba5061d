#!/usr/bin/env bash
# Run on the CPU machine before a GPU session (issue 7): builds what
# scripts/gpu/bench.sh needs on the GPU machine, which has no Go and no
# network, and prints the device tool's carry list.
#   bin/gpu-bundle.tgz  the CLI and the test binaries of model/siglip, model/llm,
#                       model/dualtoken (parity step), stripped and compressed
#                       together (~45 MB: the device tool carries at most 64 MiB)
#   gpu-fixtures/       the fixtures those tests read, and torch_siglip_bench.py
# Usage: scripts/gpu/prepare.sh [SHARED_DIR]   (default ../shared)
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd
# The XLA backends need cgo: without a C compiler Go would quietly build a
# CPU-only binary that the GPU machine then refuses; fail here instead.
export CGO_ENABLED=1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${1:-$ROOT/../shared}
cd "$ROOT"
mkdir -p bin
tmp=$(mktemp -d)
go build -ldflags='-s -w' -o "$tmp/evalrun" ./cmd/evalrun
for pkg in siglip llm dualtoken; do
  go test -c -ldflags='-s -w' -o "$tmp/$pkg.test" "./model/$pkg"
done
tar -czf bin/gpu-bundle.tgz -C "$tmp" evalrun siglip.test llm.test dualtoken.test
rm -rf "$tmp"
rm -rf gpu-fixtures && mkdir -p gpu-fixtures
for f in siglip qwen2 llama dualtoken_parts; do cp -r "$SHARED/fixtures/$f" gpu-fixtures/; done
cp "$SHARED/fixtures/README.md" gpu-fixtures/ 2>/dev/null || true
cp "$SHARED/tools/device/torch_siglip_bench.py" gpu-fixtures/ 2>/dev/null || echo "no torch_siglip_bench.py under $SHARED/tools/device" >&2
du -shc bin/gpu-bundle.tgz gpu-fixtures | tail -n 1 >&2
echo 'carry: ["bin/gpu-bundle.tgz", "gpu-fixtures"]'
