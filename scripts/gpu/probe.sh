#!/usr/bin/env bash
# Where the SigLIP tower's time goes on the GPU (issue 7): XLA's optimised HLO
# of the tower as the harness compiles it, and the tower under variants, each
# a fresh process, in one call. Complements bench.sh (which measures the
# card's components against PyTorch); a step that fails does not stop the rest.
#
# Usage (repository root on the GPU machine, after scripts/gpu/prepare.sh on
# the CPU machine; carry bin/gpu-bundle.tgz):
#   OUT=... [LIMIT=330] [PRESET=so400m-384] [BATCH=32] bash scripts/gpu/probe.sh
# Writes $OUT/probe.tgz (the JSON of every run, its stderr, the after-
# optimisation HLO text of the default run and of the decoder) and prints
# one line per run:
# throughput, compile seconds, TFLOP/s. Rehearse on a CPU machine with
# GOMLX_BACKEND=xladry (programs built, nothing run, no HLO dump).
set -uo pipefail
unset DUALTOKEN_XLA_CACHE # compile times here are compiles
T0=$(date +%s)
DEADLINE=$((T0 + ${LIMIT:-330})) # runs that would pass it are skipped
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-$ROOT/out}
PRESET=${PRESET:-so400m-384}
BATCH=${BATCH:-32}
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
B=$R/bin
mkdir -p "$B" "$OUT"
if [[ -f $ROOT/bin/gpu-bundle.tgz ]]; then
  tar -xzf "$ROOT/bin/gpu-bundle.tgz" -C "$B" evalrun
fi
E=${EVALRUN:-$B/evalrun}
if [[ ! -x $E ]]; then
  echo "probe.sh: no executable $E: run scripts/gpu/prepare.sh on the CPU machine first" >&2
  exit 2
fi
PLUGIN=/opt/torch/.venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so
if [[ -z ${GOMLX_BACKEND:-} && ! -f $PLUGIN ]]; then
  PLUGIN=$(find /opt /usr -name xla_cuda_plugin.so 2>/dev/null | head -n1 || true)
fi
export GOMLX_BACKEND=${GOMLX_BACKEND:-xla:$PLUGIN} GOMLX_NO_AUTO_INSTALL=1 GOPJR_CUDA_CHECKS=0
log() { echo "[probe $(($(date +%s) - T0))s] $*"; }

# run NAME [env ASSIGNMENTS...] -- EVALRUN-ARGS...: one bench run in a fresh
# process under the time left; stdout to NAME.json, stderr to NAME.err.
run() {
  local name=$1
  shift
  local envs=()
  while [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  shift
  local left=$((DEADLINE - $(date +%s) - 10))
  if ((left < 15)); then
    log "skip $name: ${left}s left"
    return
  fi
  local t=$(date +%s) rc=0
  env "${envs[@]}" timeout -k 5 "$left" "$E" bench --json --warmup 2 --no-peak "$@" >"$R/$name.json" 2>"$R/$name.err" || rc=$?
  log "$name rc=$rc $(($(date +%s) - t))s $(summary "$R/$name.json") $(grep -v "Can't find nvidia/" "$R/$name.err" | tail -n 2 | tr '\n' ' ' | cut -c1-300)"
}

# summary prints a run's throughput, compile seconds and TFLOP/s.
summary() {
  local f=$1
  [[ -s $f ]] || return 0
  local thr compile tflops
  thr=$(grep -o '"throughput": *[0-9.e+-]*' "$f" | head -n1 | sed 's/.*: *//')
  compile=$(grep -o '"compile_s": *[0-9.e+-]*' "$f" | head -n1 | sed 's/.*: *//')
  tflops=$(grep -o '"achieved_tflops": *[0-9.e+-]*' "$f" | head -n1 | sed 's/.*: *//')
  printf 'throughput %.1f, compile %.1f s, %.0f TFLOP/s' "$thr" "$compile" "$tflops"
}

T=(--component siglip-vision --preset "$PRESET" --batch "$BATCH" --dtype bfloat16 --iters 10)
log "device: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1), preset $PRESET, batch $BATCH"
DUMP=()
if [[ $GOMLX_BACKEND == xla:* ]]; then
  DUMP=("XLA_FLAGS=${XLA_FLAGS:-} --xla_dump_to=$R/hlo --xla_dump_hlo_as_text")
fi
run default "${DUMP[@]}" -- "${T[@]}" --scan-layers
run triton_gemm "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_enable_triton_gemm=true" -- "${T[@]}" --scan-layers
run decomposed_attention DUALTOKEN_ATTENTION=decomposed -- "${T[@]}" --scan-layers
run batch_x2 -- --component siglip-vision --preset "$PRESET" --batch $((2 * BATCH)) --dtype bfloat16 --iters 10 --scan-layers
run layers9_loop -- "${T[@]}" --scan-layers --layers 9
run layers9_unrolled -- "${T[@]}" --layers 9
# XLA flags NVIDIA's JAX containers set (unknown flags make XLA abort: the
# run then just fails): the latency-hiding scheduler, parallel LLVM
# compilation (compile time), cuDNN's layer norm.
run lhs "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_enable_latency_hiding_scheduler=true" -- "${T[@]}" --scan-layers
run llvm_parallel "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_enable_llvm_module_compilation_parallelism=true" -- "${T[@]}" --scan-layers
run cudnn_layer_norm "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_enable_cudnn_layer_norm=true" -- "${T[@]}" --scan-layers
# Triton GEMMs for every dot, so that XLA may fuse the bias adds and GELU
# into them (with cuBLAS it can only use cuBLASLt's epilogues).
run triton_any "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_enable_triton_gemm=true --xla_gpu_triton_gemm_any=true" -- "${T[@]}" --scan-layers
# No dot merging: XLA joins the Q and K projections into one GEMM whose two
# users (the Q and K bias adds) keep the bias out of cuBLASLt's epilogue;
# apart, each projection can take its bias.
run no_dot_merger "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_dot_merger_threshold_mb=0" -- "${T[@]}" --scan-layers
# The reconstruction's bottleneck: the pixel decoder's optimised HLO (its
# convolutions and normalisations), batch 16 as bench.sh times it.
DEC_DUMP=()
if [[ $GOMLX_BACKEND == xla:* ]]; then
  DEC_DUMP=("XLA_FLAGS=${XLA_FLAGS:-} --xla_dump_to=$R/hlo_decoder --xla_dump_hlo_as_text")
fi
run decoder "${DEC_DUMP[@]}" -- --component dualtoken-decode --preset "$PRESET" --batch 16 --dtype bfloat16 --iters 5
# cuBLASLt for every GEMM (XLA uses it on Hopper only for FP8 unless asked):
# its epilogues can take a bias and the tanh GELU, which the plain cuBLAS
# path leaves to separate fusions; with dot merging off as well, so that the
# Q and K projections can each take their bias.
LT_DUMP=""
if [[ $GOMLX_BACKEND == xla:* ]]; then
  LT_DUMP="--xla_dump_to=$R/hlo_cublaslt --xla_dump_hlo_as_text"
fi
run cublaslt "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_enable_cublaslt=true $LT_DUMP" -- "${T[@]}" --scan-layers
run cublaslt_no_merger "XLA_FLAGS=${XLA_FLAGS:-} --xla_gpu_enable_cublaslt=true --xla_gpu_dot_merger_threshold_mb=0" -- "${T[@]}" --scan-layers
nvidia-smi >"$R/nvidia-smi.txt" 2>&1 || true
# Keep the optimised HLO only (the other dumps are large and say less).
find "$R/hlo" "$R/hlo_decoder" "$R/hlo_cublaslt" -type f ! -name '*after_optimizations.txt' -delete 2>/dev/null || true
tar -czf "$OUT/probe.tgz" -C "$R" --exclude=bin .
log "wrote $OUT/probe.tgz"
