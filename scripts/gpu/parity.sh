#!/usr/bin/env bash
# Parity on the GPU (issue 7): the fixture models' TestParity tests — float32
# against the reference outputs with TF32 off, and the bf16 tests' bounds —
# as test binaries built on the CPU machine (scripts/gpu/prepare.sh) and
# unpacked by bench.sh into $TESTBIN, run
# with GOMLX_BACKEND pointing at the GPU; after dualtoken a row
# dualtoken-uint8 runs the uint8 reconstruction's tests. Prints one line per
# package (and that row):
#   package  exit-code  seconds  passed  failed
# Full logs: $RAW/parity_<row>.log (PARITY_TAG=x makes it parity_x_<row>.log).
# PARITY_PKGS (default "siglip llm dualtoken") picks the packages. Called by
# bench.sh (steps "parity" and "parity_xcache").
set -uo pipefail
ROOT=${ROOT:?} RAW=${RAW:?} FIXTURES=${FIXTURES:?} TESTBIN=${TESTBIN:?}
FIXTURES=$(cd "$FIXTURES" && pwd) # the tests run from their package folders
: "${GOMLX_BACKEND:?GOMLX_BACKEND must name the GPU backend}"
# TF32 off so float32 matmuls are float32 (the XLA backend's default is TF32).
case $GOMLX_BACKEND in
  xla:*) backend="$GOMLX_BACKEND,tf32=false" ;;
  *) backend=$GOMLX_BACKEND ;;
esac
status=0
# row LABEL PKG RUN COUNT: runs PKG's test binary with -test.run RUN and prints
# LABEL, exit code, seconds and the passed/failed tests matching COUNT.
row() {
  local label=$1 pkg=$2 run=$3 count=$4 rc=0 t0
  local log=$RAW/parity_${PARITY_TAG:+${PARITY_TAG}_}$label.log
  t0=$(date +%s)
  (cd "$ROOT/model/$pkg" && GOMLX_BACKEND="$backend" DUALTOKEN_FIXTURES="$FIXTURES" CI=true \
    "$TESTBIN/$pkg.test" -test.run "$run" -test.v -test.count=1 >"$log" 2>&1) || rc=$?
  local pass fail
  pass=$(grep -c -- "^--- PASS: $count" "$log" || true)
  fail=$(grep -c -- "^--- FAIL: $count" "$log" || true)
  printf '%s\t%d\t%d\t%d\t%d\n' "$label" "$rc" $(($(date +%s) - t0)) "$pass" "$fail"
  ((rc == 0)) || status=1
}
for pkg in ${PARITY_PKGS:-siglip llm dualtoken}; do
  row "$pkg" "$pkg" '^TestParity' TestParity
  if [[ $pkg == dualtoken ]]; then
    # The recon task's uint8 device call on the card: the conversions
    # against imageio's, byte for byte, and the whole reconstruction against
    # the float path (a row of its own: not fixture parity).
    row dualtoken-uint8 dualtoken '^TestUint8ConversionsMatchHost$|^TestReconstructUint8MatchesFloatPath$' Test
  fi
done
exit "$status"
