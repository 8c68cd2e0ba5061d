#!/usr/bin/env bash
# Issue 7's prepared GPU benchmark: our components on the XLA CUDA backend and
# the PyTorch references, in one run on one card, merged into
# $OUT/reports/perf/<date>-<card>.json and .png (commit both under reports/perf/).
#
# Usage (repository root on the GPU machine; on the CPU machine first run
# scripts/gpu/prepare.sh, which builds bin/gpu-bundle.tgz (evalrun and the
# parity test binaries) and copies the parity fixtures to gpu-fixtures/ —
# carry those two paths):
#   scripts/gpu/bench.sh [PATH/TO/torch_siglip_bench.py]
# Environment (all optional):
#   OUT         output folder (default ./out); raw step outputs go to $OUT/raw
#   BUDGET_S    wall-clock budget of the whole script, merge included (default 290)
#   STEPS       comma-separated steps to run (default: all, in this order):
#               parity,siglip,siglip_warm,siglip_triton,siglip_alt,torch_siglip,
#               encode,decode,encode_warm,decode_warm,tokenizer,tokenizer_warm,parity_xcache,tokenizer_xcache,
#               tokenizer_llvmpar,decode_triton,decode_phases,recon_eval,reconstruct,llm_b1,
#               llm_b16,llm_triton,torch_llm,llm_variants,inception,llm_alt (llm_b1 in the
#               other layer formulation, last: it takes the budget left; llm_variants is
#               no benchmark: transformers goldens for scaled RoPE and a floor-divided
#               head_dim, checked by verify, ~30 s)
#               (all of them do not fit one 5-minute run: split in two, e.g.
#               BUDGET_S=330 STEPS=parity,siglip,siglip_warm,siglip_triton,torch_siglip,tokenizer,tokenizer_warm,parity_xcache,tokenizer_xcache
#               then STEPS=encode,decode,recon_eval,reconstruct,tokenizer_llvmpar,decode_triton,decode_phases,llm_b1,llm_b16,llm_triton,torch_llm,llm_variants,inception
#               (estimated from the 2026-11-27 step times: about 290 s and 230 s; with the
#               device tool each call's $OUT comes back on its own: put both raw/
#               folders in one and run evalrun bench-merge on it anywhere);
#               on an H200 (2026-11-27) parity,siglip,siglip_warm,torch_siglip,
#               encode,decode,encode_warm,decode_warm took 232 s (four steps failing
#               early), llm_b1,llm_b16,torch_llm,decode,recon_eval,inception 138 s;
#               recon_eval is the measured end-to-end reconstruction evaluation
#               behind recon_eval_end_to_end — without it the card reports an upper bound;
#               tokenizer,tokenizer_warm compile encode and decode at once in one process
#               (dualtoken-tokenizer) for tokenizer_compile, with their own autotune cache
#               ($XLA_CACHE-tokenizer) so that the cold step is cold after encode/decode:
#               STEPS=encode,decode,encode_warm,decode_warm,tokenizer,tokenizer_warm gives
#               the card both that figure and the separate runs' sum;
#               tokenizer_xcache compiles the tokenizer into an empty executable cache
#               (DUALTOKEN_XLA_CACHE, package backend/xlacache) in one process and
#               loads it in a second: the card's compile_warm_s when every program
#               loaded; tokenizer_llvmpar is a cold compile with XLA's parallel LLVM
#               compilation (--xla_gpu_enable_llvm_module_compilation_parallelism);
#               parity_xcache runs the dualtoken parity tests twice through one
#               executable cache, the second time on loaded executables;
#               decode_phases reruns decode with DUALTOKEN_UPSAMPLE_CONV=phases, the
#               decoder's upsample convolutions as four 2x2 phase convolutions)
#   DTYPE       our compute dtype (default bfloat16, like the references)
#   SCAN_LAYERS 1 (default): our transformer stacks run as layer loops, so XLA
#               compiles one layer body (siglip_alt reruns siglip unrolled);
#               0: unrolled (siglip_alt reruns it as a loop)
#   XLA_CACHE   folder for XLA's autotune cache; the *_warm steps rerun a
#               component with it filled by the cold step (default $OUT/xla-cache)
#   FIXTURES    parity fixtures (default ./gpu-fixtures)
#   DUALTOKEN_ATTENTION  auto (default: XLA's fused attention, probed first) |
#               fused | decomposed
#   LLM_LAYERS  decoder layers of the Qwen2.5-3B-shaped LLM, ours and HF's (default 36)
#   PYTHON      Python with torch + transformers (default /opt/torch/.venv/bin/python)
#   EVALRUN     the binary (default: evalrun from bin/gpu-bundle.tgz, else bin/evalrun)
# Each step has its own timeout and is skipped (rc 200) when the budget left
# is too small; a failed or timed-out step keeps what it wrote and the rest go on.
# Rehearsal on a CPU machine: GOMLX_BACKEND=xladry (programs built, nothing
# run; the parity step then fails and the PyTorch steps are skipped).
set -euo pipefail
# A DUALTOKEN_XLA_CACHE of the caller's would turn "cold" compiles into
# loads: only the steps that test the executable cache set one.
unset DUALTOKEN_XLA_CACHE
# Likewise the decoder's upsample form: the main steps run the default; only
# decode_phases sets it.
unset DUALTOKEN_UPSAMPLE_CONV

START=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/out}
RAW=$OUT/raw
BUDGET_S=${BUDGET_S:-290}
STEPS=${STEPS:-parity,siglip,siglip_warm,siglip_triton,siglip_alt,torch_siglip,encode,decode,encode_warm,decode_warm,tokenizer,tokenizer_warm,parity_xcache,tokenizer_xcache,tokenizer_llvmpar,decode_triton,decode_phases,recon_eval,reconstruct,llm_b1,llm_b16,llm_triton,torch_llm,llm_variants,inception,llm_alt}
DTYPE=${DTYPE:-bfloat16}
XLA_CACHE=${XLA_CACHE:-$OUT/xla-cache}
FIXTURES=${FIXTURES:-$ROOT/gpu-fixtures}
LLM_LAYERS=${LLM_LAYERS:-36}
PYTHON=${PYTHON:-/opt/torch/.venv/bin/python}
BIN=
if [[ -f $ROOT/bin/gpu-bundle.tgz ]]; then
  BIN=$(mktemp -d)
  trap 'rm -rf "$BIN"' EXIT
  tar -xzf "$ROOT/bin/gpu-bundle.tgz" -C "$BIN"
fi
EVALRUN=${EVALRUN:-${BIN:+$BIN/evalrun}}
EVALRUN=${EVALRUN:-$ROOT/bin/evalrun}
SIGLIP_PY=${1:-}
if [[ -z $SIGLIP_PY ]]; then
  for p in "$ROOT/gpu-fixtures/torch_siglip_bench.py" "$ROOT/shared/tools/device/torch_siglip_bench.py" "$ROOT/../shared/tools/device/torch_siglip_bench.py"; do
    if [[ -f $p ]]; then SIGLIP_PY=$p; break; fi
  done
fi
# JAX's CUDA PJRT plugin, by absolute path (the machine has no network for
# GoMLX's auto-install); looked for under /opt when the image moved it.
PLUGIN=/opt/torch/.venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so
if [[ -z ${GOMLX_BACKEND:-} && ! -f $PLUGIN ]]; then
  PLUGIN=$(find /opt /usr -name xla_cuda_plugin.so 2>/dev/null | head -n1 || true)
fi
export GOMLX_BACKEND=${GOMLX_BACKEND:-xla:$PLUGIN}
export GOMLX_NO_AUTO_INSTALL=1
MERGE_RESERVE_S=70 # the merge runs under timeout 60, a step may overrun by its 10 s kill grace

mkdir -p "$RAW"
touch "$RAW/steps.tsv" # appended to, so a second run with other STEPS adds to the first
log() { echo "[bench.sh $(($(date +%s) - START))s] $*" >&2; }

if [[ ! -x $EVALRUN ]]; then
  log "no executable $EVALRUN: build it on the CPU machine first (see the header)"
  exit 2
fi

# The card: nvidia-smi's name, h100/h200 for the file name.
DEVICE=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 || true)
DEVICE=${DEVICE:-unknown GPU}
case "$DEVICE" in
  *H200*) CARD=h200 ;;
  *H100*) CARD=h100 ;;
  *) CARD=$(echo "$DEVICE" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9' | cut -c1-16); CARD=${CARD:-gpu} ;;
esac
DATE=$(date -u +%F)
nvidia-smi >"$RAW/nvidia-smi.txt" 2>&1 || true
log "device: $DEVICE ($CARD), budget ${BUDGET_S}s, steps: $STEPS, LLM layers: $LLM_LAYERS"

want() { [[ ",$STEPS," == *",$1,"* ]]; }

# step NAME CAP_S MIN_S OUTFILE -- CMD...: runs CMD with stdout to $RAW/OUTFILE and
# stderr to $RAW/NAME.err, under min(CAP_S, budget left), sampling GPU memory to
# $RAW/NAME.gpumem; appends "NAME rc seconds" to steps.tsv. Never fails the script.
step() {
  local name=$1 cap=$2 min=$3 outfile=$4
  shift 5
  local now left limit rc=0 t0 ms sampler=
  now=$(date +%s)
  left=$((START + BUDGET_S - MERGE_RESERVE_S - now))
  limit=$((cap < left ? cap : left))
  if ((limit < min)); then
    log "skip $name: ${left}s left, needs ${min}s"
    printf '%s\t200\t0\n' "$name" >>"$RAW/steps.tsv"
    return 0
  fi
  log "run $name (limit ${limit}s): $*"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$RAW/$name.gpumem" 2>/dev/null &
    sampler=$!
  fi
  t0=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" >"$RAW/$outfile" 2>"$RAW/$name.err" || rc=$?
  if [[ -n $sampler ]]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
  fi
  ms=$((($(date +%s%N) - t0) / 1000000))
  printf '%s\t%d\t%d.%03d\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) >>"$RAW/steps.tsv"
  log "done $name: rc $rc"
  tail -n 3 "$RAW/$name.err" >&2 || true
  return 0
}

BENCH=("$EVALRUN" bench --json --warmup 2 --dtype "$DTYPE")
# Transformer stacks as layer loops (compile time independent of depth) unless
# SCAN_LAYERS=0; the *_alt step reruns siglip in the other formulation.
LOOP=()
ALT=(--scan-layers)
ALT_NAME=scan
if [[ ${SCAN_LAYERS:-1} == 1 ]]; then
  LOOP=(--scan-layers)
  ALT=()
  ALT_NAME=unrolled
fi

# XLA's on-disk autotune cache makes a second compile of the same graph
# cheaper: it skips GEMM autotuning. An unknown flag makes XLA abort, so it
# is probed on a tiny graph first and kept only if taken; raw/xla_flags.txt
# lists the flags taken.
mkdir -p "$XLA_CACHE"
: >"$RAW/xla_flags.txt"
probe_flag() { # probe_flag NAME FLAG: adds FLAG to XLA_FLAGS if XLA takes it
  if XLA_FLAGS="${XLA_FLAGS:-} $2" timeout 60 "$EVALRUN" bench --component siglip-vision --preset tiny --iters 1 --warmup 0 --no-peak >/dev/null 2>"$RAW/xla_flags_probe_$1.err"; then
    export XLA_FLAGS="${XLA_FLAGS:-} $2"
    echo "$2" >>"$RAW/xla_flags.txt"
    log "XLA takes $2"
    return 0
  fi
  log "XLA rejected $2 (see raw/xla_flags_probe_$1.err)"
  return 1
}
if probe_flag autotune "--xla_gpu_per_fusion_autotune_cache_dir=$XLA_CACHE"; then
  echo on >"$RAW/xla_cache.txt"
else
  echo off >"$RAW/xla_cache.txt" # bench-merge says so beside compile_warm_s
fi
# Not XLA's kernel cache (--xla_gpu_kernel_cache_file): on an H200 on
# 2026-11-27 every run that loaded one written by an earlier process failed
# (CUDA_ERROR_ILLEGAL_INSTRUCTION, then CUDNN_STATUS_EXECUTION_FAILED); the
# same steps passed with the autotune cache alone.

# The models ask XLA for its fused attention (cuDNN flash attention in bf16;
# backend.FusedAttention). Should that custom call fail on this card, fall back
# to the decomposed graph for the whole run rather than lose every step.
# The probe runs the layers as the main steps will (loops or not).
if [[ -z ${DUALTOKEN_ATTENTION:-} ]] && ! timeout 120 "$EVALRUN" bench "${LOOP[@]}" --component siglip-vision --preset tiny --dtype bfloat16 --iters 1 --warmup 0 --no-peak >/dev/null 2>"$RAW/fused_attention_probe.err"; then
  export DUALTOKEN_ATTENTION=decomposed
  log "fused attention failed on a tiny tower (raw/fused_attention_probe.err): using the decomposed graph"
fi
log "attention: ${DUALTOKEN_ATTENTION:-auto (fused on XLA)}"

if want parity; then
  if [[ -n $BIN && -x $BIN/siglip.test && -d $FIXTURES ]]; then
    step parity 150 30 parity.tsv -- env ROOT="$ROOT" RAW="$RAW" FIXTURES="$FIXTURES" TESTBIN="$BIN" bash "$ROOT/scripts/gpu/parity.sh"
  else
    log "skip parity: bin/gpu-bundle.tgz or $FIXTURES missing (run scripts/gpu/prepare.sh on the CPU machine)"
    printf 'parity\t200\t0\n' >>"$RAW/steps.tsv"
  fi
fi
if want siglip; then
  step siglip 170 40 siglip.json -- "${BENCH[@]}" "${LOOP[@]}" --component siglip-vision --preset so400m-384 --batch 32 --iters 10
fi
if want siglip_warm; then
  step siglip_warm 120 30 siglip_warm.json -- "${BENCH[@]}" "${LOOP[@]}" --component siglip-vision --preset so400m-384 --batch 32 --iters 3
fi
# backend.New turns XLA's Triton GEMMs off on CUDA (cuBLAS instead): the
# *_triton reruns with them on keep that choice measured on every card (they
# run after the warm steps, whose cache the cold steps alone fill).
TRITON_ON=(env XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_triton_gemm=true")
# The tokenizer steps' XLA flags: the autotune cache in a folder of their own,
# which only the cold tokenizer step fills (the encode/decode steps compile the
# same programs: sharing theirs would make the "cold" step warm); likewise an
# (the tokenizer_xcache steps add an executable cache of their own).
TOK_CACHE=$XLA_CACHE-tokenizer
mkdir -p "$TOK_CACHE"
TOK_FLAGS=${XLA_FLAGS:-}
TOK_ON=(env XLA_FLAGS="${TOK_FLAGS//"$XLA_CACHE"/"$TOK_CACHE"}")
if want siglip_triton; then
  step siglip_triton 120 30 siglip_triton.json -- "${TRITON_ON[@]}" "${BENCH[@]}" "${LOOP[@]}" --component siglip-vision --preset so400m-384 --batch 32 --iters 10
fi
if want siglip_alt; then
  step "siglip_$ALT_NAME" 170 40 "siglip_$ALT_NAME.json" -- "${BENCH[@]}" "${ALT[@]}" --component siglip-vision --preset so400m-384 --batch 32 --iters 10
fi
if want torch_siglip; then
  if [[ -n $SIGLIP_PY && -f $SIGLIP_PY ]]; then
    step torch_siglip 150 60 torch_siglip.out -- "$PYTHON" "$SIGLIP_PY" 32
  else
    log "skip torch_siglip: torch_siglip_bench.py not found (pass its path as the first argument)"
    printf 'torch_siglip\t200\t0\n' >>"$RAW/steps.tsv"
  fi
fi
if want llm_b1; then
  step llm_b1 200 60 llm_b1.json -- "${BENCH[@]}" "${LOOP[@]}" --component llm-decode --preset qwen2.5-3b --batch 1 --iters 32 --layers "$LLM_LAYERS"
fi
if want llm_b16; then
  step llm_b16 200 60 llm_b16.json -- "${BENCH[@]}" "${LOOP[@]}" --component llm-decode --preset qwen2.5-3b --batch 16 --iters 32 --layers "$LLM_LAYERS"
fi
if want llm_triton; then
  step llm_b1_triton 150 40 llm_b1_triton.json -- "${TRITON_ON[@]}" "${BENCH[@]}" "${LOOP[@]}" --component llm-decode --preset qwen2.5-3b --batch 1 --iters 32 --layers "$LLM_LAYERS"
fi
if want torch_llm; then
  step torch_llm 120 45 torch_llm.jsonl -- "$PYTHON" "$ROOT/scripts/gpu/torch_llm_bench.py" --batches 1,16 --layers "$LLM_LAYERS"
fi
# Not a benchmark: transformers goldens for LLM configurations the shared fixtures lack (scaled
# RoPE, a floor-divided head_dim), checked at once with verify; raw/llm_variants/ comes back.
if want llm_variants; then
  step llm_variants 90 30 llm_variants.txt -- bash "$ROOT/scripts/gpu/llm_variants.sh" "$RAW/llm_variants" "$EVALRUN" "$PYTHON"
fi
if want encode; then
  step encode 170 40 encode.json -- "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-encode --preset so400m-384 --batch 16 --iters 10
fi
if want decode; then
  step decode 120 30 decode.json -- "${BENCH[@]}" --component dualtoken-decode --preset so400m-384 --batch 16 --iters 10
fi
if want encode_warm; then
  step encode_warm 120 30 encode_warm.json -- "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-encode --preset so400m-384 --batch 16 --iters 3
fi
if want decode_warm; then
  step decode_warm 90 20 decode_warm.json -- "${BENCH[@]}" --component dualtoken-decode --preset so400m-384 --batch 16 --iters 3
fi
# The whole tokenizer in one process: Encode's and DecodePixels' executables
# compiled at once (compile_s is dualtoken.Model.Compile's wall time), then
# Encode + DecodePixels steps; the warm rerun finds the cold one's autotune cache.
if want tokenizer; then
  rm -rf "$TOK_CACHE" && mkdir -p "$TOK_CACHE" # cold even when OUT is reused
  step tokenizer 170 40 tokenizer.json -- "${TOK_ON[@]}" "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-tokenizer --preset so400m-384 --batch 16 --iters 10
fi
if want tokenizer_warm; then
  step tokenizer_warm 120 30 tokenizer_warm.json -- "${TOK_ON[@]}" "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-tokenizer --preset so400m-384 --batch 16 --iters 3
fi
# The executable-cache steps come after the measurements they could disturb
# (a crash or hang in the new PJRT calls costs only their own time).
if want parity_xcache; then
  if [[ -n $BIN && -x $BIN/dualtoken.test && -d $FIXTURES ]]; then
    step parity_xcache 90 40 parity_xcache.tsv -- env ROOT="$ROOT" RAW="$RAW" FIXTURES="$FIXTURES" TESTBIN="$BIN" \
      CACHE_DIR="$XLA_CACHE-exec-parity" PARITY_PKGS=dualtoken bash "$ROOT/scripts/gpu/parity_xcache.sh"
  else
    log "skip parity_xcache: bin/gpu-bundle.tgz or $FIXTURES missing"
    printf 'parity_xcache\t200\t0\n' >>"$RAW/steps.tsv"
  fi
fi
# The executable cache: one process compiles into an empty cache (its compile
# includes storing), the next loads every program (raw/tokenizer_xcache.json's
# xla_executable_cache must say 2 hits, 0 misses); its steps use the loaded code.
if want tokenizer_xcache; then
  XC_DIR=$XLA_CACHE-exec-tokenizer
  rm -rf "$XC_DIR"
  # --no-peak: the cache's counts are then the tokenizer's two programs alone.
  step tokenizer_xcache_fill 90 30 tokenizer_xcache_fill.json -- "${TOK_ON[@]}" DUALTOKEN_XLA_CACHE="$XC_DIR" "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-tokenizer --preset so400m-384 --batch 16 --iters 2 --no-peak
  step tokenizer_xcache 60 20 tokenizer_xcache.json -- "${TOK_ON[@]}" DUALTOKEN_XLA_CACHE="$XC_DIR" "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-tokenizer --preset so400m-384 --batch 16 --iters 3 --no-peak
fi
# XLA's parallel LLVM compilation (splits each program's LLVM module across
# threads; NVIDIA's JAX containers turn it on), cold, with an autotune cache
# of its own so that nothing is warm.
if want tokenizer_llvmpar; then
  PAR_CACHE=$XLA_CACHE-llvmpar
  rm -rf "$PAR_CACHE"
  mkdir -p "$PAR_CACHE"
  step tokenizer_llvmpar 120 30 tokenizer_llvmpar.json -- env XLA_FLAGS="${TOK_FLAGS//"$XLA_CACHE"/"$PAR_CACHE"} --xla_gpu_enable_llvm_module_compilation_parallelism=true" \
    "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-tokenizer --preset so400m-384 --batch 16 --iters 3
fi
if want decode_triton; then
  step decode_triton 120 30 decode_triton.json -- "${TRITON_ON[@]}" "${BENCH[@]}" --component dualtoken-decode --preset so400m-384 --batch 16 --iters 10
fi
# The decoder's nearest-x2 upsample + 3x3 convolution as four 2x2 phase
# convolutions on the low-resolution map (2.25x fewer FLOPs there, no 4x
# intermediate; cuDNN may run 3x3 faster per FLOP): decode is the recon
# target's bottleneck.
if want decode_phases; then
  step decode_phases 120 30 decode_phases.json -- env DUALTOKEN_UPSAMPLE_CONV=phases "${BENCH[@]}" --component dualtoken-decode --preset so400m-384 --batch 16 --iters 10
fi
if want recon_eval; then
  # The recon task's own Predict, batches as evalrun run schedules them:
  # 1+2+12 batches of 32 (on an H200, 2026-11-27, the earlier model of the
  # task ran 166 img/s at batch 32 against 153 at batch 16).
  step recon_eval 150 40 recon_eval.json -- "${BENCH[@]}" "${LOOP[@]}" --component recon-eval --preset so400m-384 --batch 32 --iters 12
fi
# The recon task's device call alone (ReconstructUint8: image bytes from the
# host, reconstruction bytes back every step): beside encode, decode and
# recon_eval it shows what the transfers and the host side of the
# reconstruct stage cost.
if want reconstruct; then
  step reconstruct 120 30 reconstruct.json -- "${BENCH[@]}" "${LOOP[@]}" --component dualtoken-reconstruct --preset so400m-384 --batch 32 --iters 10
fi
if want inception; then
  step inception 90 25 inception.json -- "$EVALRUN" bench --json --warmup 2 --component inception --preset fid-299 --batch 64 --iters 10
fi
if want llm_alt; then
  # Batch-1 decoding in the other layer formulation, with what budget is
  # left: whether the loop's per-layer weight slices cost decoding speed
  # (memory-bound) and what unrolling costs in compile time.
  step "llm_b1_$ALT_NAME" 150 60 "llm_b1_$ALT_NAME.json" -- "${BENCH[@]}" "${ALT[@]}" --component llm-decode --preset qwen2.5-3b --batch 1 --iters 32 --layers "$LLM_LAYERS"
fi

# Merge: whatever ran. Failing here leaves the raw folder, which comes back.
mkdir -p "$OUT/reports/perf"
rc=0
timeout 60 "$EVALRUN" bench-merge --raw "$RAW" --card "$CARD" --date "$DATE" --device "$DEVICE" \
  --out-dir "$OUT/reports/perf" || rc=$?
# One file for tools that bring back only a few files from $OUT.
tar -czf "$OUT/raw.tgz" -C "$OUT" raw 2>/dev/null || log "could not pack $RAW into $OUT/raw.tgz"
log "merge rc $rc; total $(($(date +%s) - START))s"
cat "$RAW/steps.tsv" >&2
((rc == 0 || rc == 2)) || rc=1 # the project's exit codes: a timed-out merge (124) is a failure
exit "$rc"
