#!/usr/bin/env bash
# CPU comparison of the harness's host-side and model work against the Python
# reference implementations, on this machine, in one run (see README.md).
#
#   scripts/cpu/bench.sh [DATE]        (from the repository root; ~5 minutes on 2 cores)
#
# Env: OUT (work folder, default /tmp/cpucompare), REPEATS (3), THREADS (2),
# PY (/usr/bin/python3), NOTES (lines added to the report), VQA_GIT (a git copy of GT-Vision-Lab/VQA; without it
# the VQA row has no reference), ONLY (a regexp of component names to run).
# Writes reports/perf/DATE-cpu.{json,md,png}.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATE=${1:-$(date +%F)}
OUT=${OUT:-/tmp/cpucompare}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
PY=${PY:-/usr/bin/python3}
VQA_GIT=${VQA_GIT:-}
ONLY=${ONLY:-.}
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} GOEXPERIMENT=${GOEXPERIMENT:-simd}
# The same thread budget on both sides.
export GOMAXPROCS=$THREADS OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS \
  CPUCOMPARE_THREADS=$THREADS
rm -rf "$OUT" && mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd) # absolute: the benchmarks run in their package folders
export CPUCOMPARE_INPUTS=$OUT/inputs
ROOT=$PWD

echo "== inputs (PIL JPEGs, uint8 pair, Fréchet statistics, text, SentencePiece models) -> $CPUCOMPARE_INPUTS"
"$PY" scripts/cpu/ref_bench.py gen "$CPUCOMPARE_INPUTS"
"$PY" scripts/cpu/ref_bench.py versions >"$OUT/versions.json"

echo "== building the Go benchmark binaries"
for p in imageio metrics tokenizer model/siglip model/inception; do
  go test -c -o "$OUT/bin/$(basename $p).test" "./$p"
done
{
  echo "nproc $(nproc)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "go $(go env GOVERSION)"
  echo "gomlx $(go list -m -f '{{.Version}}' github.com/gomlx/gomlx)"
  echo "goexperiment $GOEXPERIMENT"
  echo "threads $THREADS"
  echo "repeats $REPEATS"
  echo "simd $(grep -m1 "^flags" /proc/cpuinfo | tr " " "\n" | grep -E "^(avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_vnni|amx_tile|amx_bf16)$" | tr "\n" " " | sed "s/ $//")"
  echo "kernel $(uname -r)"
} >"$OUT/env.txt"

# component | Go package dir | Go -bench regexp | N ops per repeat (both sides)
COMPONENTS="
jpeg_decode/384x384|imageio|^BenchmarkCPUCompareDecode\$/^384x384\$|200
jpeg_decode/500x375|imageio|^BenchmarkCPUCompareDecode\$/^500x375\$|200
siglip_preprocess/384x384|imageio|^BenchmarkCPUCompareSiglip384\$/^384x384\$|200
siglip_preprocess/500x375|imageio|^BenchmarkCPUCompareSiglip384\$/^500x375\$|200
ssim|metrics|^BenchmarkCPUCompareSSIM\$|20
psnr|metrics|^BenchmarkCPUComparePSNR\$|200
frechet|metrics|^BenchmarkCPUCompareFrechet\$|1
spm_encode/unigram150|tokenizer|^BenchmarkCPUCompareSentencePiece\$/^unigram150\$|10
spm_encode/bpe420|tokenizer|^BenchmarkCPUCompareSentencePiece\$/^bpe420\$|10
spm_encode/unigram8k|tokenizer|^BenchmarkCPUCompareSentencePiece\$/^unigram8k\$|10
vqa_eval|metrics|^BenchmarkVQAEvaluate\$|20
vit_encoder|model/siglip|^BenchmarkVisionEncoderLayers\$|2
inception_pool3|model/inception|^BenchmarkPool3\$/^batch8\$|2
"

echo "== measuring: each component alternates Go and Python, $REPEATS repeats each"
: >"$OUT/go.txt"
: >"$OUT/ref.jsonl"
echo "load start $(cat /proc/loadavg)" >"$OUT/load.txt"
for line in $COMPONENTS; do
  IFS='|' read -r name pkg bench n <<<"$line"
  [[ $name =~ $ONLY ]] || continue
  echo "load $name $(cat /proc/loadavg)" >>"$OUT/load.txt"
  for r in $(seq "$REPEATS"); do
    # Benchmarks run in their package folder, as go test would run them.
    raw="$OUT/go-raw-$r.txt"
    if ! (cd "$ROOT/$pkg" && "$OUT/bin/$(basename "$pkg").test" -test.run '^$' -test.bench "$bench" \
      -test.benchtime "${n}x" -test.count 1) >"$raw" 2>&1; then
      cat "$raw" >&2
      echo "bench.sh: $name: the Go benchmark failed (output above)" >&2
      exit 1
    fi
    sed -n "s|^Benchmark|$name\tBenchmark|p" "$raw" | tee -a "$OUT/go.txt"
    "$PY" scripts/cpu/ref_bench.py run "$name" "$CPUCOMPARE_INPUTS" "$n" ${VQA_GIT:+"$VQA_GIT"} | tee -a "$OUT/ref.jsonl"
  done
done
echo "load end $(cat /proc/loadavg)" >>"$OUT/load.txt"

echo "== merging"
mkdir -p reports/perf
# NOTES: extra lines for the report (e.g. other runs of the day), one per line.
args=()
while IFS= read -r n; do [[ -n $n ]] && args+=(-note "$n"); done <<<"${NOTES:-}"
go run ./perf/cpucompare/cmd -in "$OUT" -date "$DATE" -out "reports/perf/$DATE-cpu" "${args[@]}"
