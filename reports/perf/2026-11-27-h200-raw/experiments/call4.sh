#!/usr/bin/env bash
# The fourth device call of 2026-11-27: parity of the fixed tests, an HLO dump of the
# SigLIP tower, and quick variants. Everything lands in $OUT/final.tgz.
set -uo pipefail
T0=$(date +%s); DEADLINE=$((T0 + ${LIMIT:-250}))
ROOT=$PWD; R=/tmp/f; rm -rf $R; mkdir -p $R
B=$(mktemp -d); tar xzf bin/gpu-bundle.tgz -C $B
export GOMLX_BACKEND=${GB:-xla:/opt/torch/.venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so} GOMLX_NO_AUTO_INSTALL=1 GOPJR_CUDA_CHECKS=0
log() { echo "[final $(($(date +%s) - T0))s] $*"; }
run() { # run NAME CMD...: stdout to $R/NAME.json, stderr to $R/NAME.err, under the time left
  local n=$1; shift; local left=$((DEADLINE - $(date +%s) - 5)); ((left > 8)) || { log "skip $n"; return; }
  local t=$(date +%s); timeout -k 5 $left "$@" >$R/$n.json 2>$R/$n.err; local rc=$?
  log "$n rc=$rc $(($(date +%s) - t))s $(python3 -c "import json;d=json.load(open('$R/$n.json'));print('thr=%.1f %s compile=%.1f tflops=%.0f'%(d['throughput'],d['unit'],d['compile_s'],d.get('achieved_tflops',0)), 'recon=%s'%(d.get('recon_eval') or {}).get('img_per_s'))" 2>/dev/null) $(tail -c 300 $R/$n.err | tr '\n' ' ')"
}
F=$(cd gpu-fixtures && pwd)
for pkg in siglip dualtoken; do
  t=$(date +%s)
  (cd model/$pkg && GOMLX_BACKEND="$GOMLX_BACKEND,tf32=false" DUALTOKEN_FIXTURES=$F CI=true timeout 120 $B/$pkg.test -test.run '^TestParity' -test.v -test.count=1 >$R/parity_$pkg.log 2>&1); rc=$?
  log "parity $pkg rc=$rc $(($(date +%s) - t))s pass=$(grep -c -- '^--- PASS: TestParity' $R/parity_$pkg.log) fail=$(grep -c -- '^--- FAIL' $R/parity_$pkg.log) skip=$(grep -c -- '--- SKIP' $R/parity_$pkg.log)"
done
E=$B/evalrun; S=(bench --json --warmup 2 --dtype bfloat16 --component siglip-vision --preset so400m-384 --batch 32)
run siglip_dump env XLA_FLAGS="--xla_dump_to=$R/hlo --xla_dump_hlo_as_text" $E "${S[@]}" --scan-layers --iters 10 --no-peak
run siglip_notriton env XLA_FLAGS=--xla_gpu_enable_triton_gemm=false $E "${S[@]}" --scan-layers --iters 10 --no-peak
run siglip_decomposed env DUALTOKEN_ATTENTION=decomposed $E "${S[@]}" --scan-layers --iters 10 --no-peak
run siglip_l9_scan $E "${S[@]}" --scan-layers --layers 9 --iters 10 --no-peak
run recon_b32 $E bench --json --warmup 2 --dtype bfloat16 --component recon-eval --preset so400m-384 --batch 32 --iters 12 --scan-layers --no-peak
run siglip_l9_unrolled $E "${S[@]}" --layers 9 --iters 10 --no-peak
nvidia-smi >$R/nvidia-smi.txt 2>&1
du -sh $R/hlo 2>/dev/null
find $R/hlo -type f ! -name '*after_optimizations.txt' -delete 2>/dev/null
tar czf $OUT/final.tgz -C $R .
if (($(stat -c %s $OUT/final.tgz) > 15000000)); then rm -rf $R/hlo; tar czf $OUT/final.tgz -C $R .; log "hlo dropped: too big"; fi
ls -la $OUT
log done
