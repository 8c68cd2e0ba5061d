#!/usr/bin/env bash
# The llm_variants step of scripts/gpu/bench.sh: makes the transformers goldens of
# scripts/gpu/gen_llm_variants.py (scaled RoPE, a floor-divided head_dim) in DIR and checks
# each with `evalrun verify` on the Go backend (float32, 1e-4). DIR comes back in raw.tgz, to be
# committed as model/llm/testdata for a parity test.
# Usage: llm_variants.sh DIR EVALRUN PYTHON
set -uo pipefail
dir=$1 evalrun=$2 python=$3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
"$python" "$root/scripts/gpu/gen_llm_variants.py" "$dir" || exit 1
rc=0
for m in "$dir"/*/; do
  m=${m%/}
  echo "== $(basename "$m")"
  "$evalrun" --backend go verify --model "$m" --golden "$m/golden.safetensors" || rc=1
done
exit $rc
