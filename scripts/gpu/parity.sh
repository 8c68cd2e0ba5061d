#!/usr/bin/env bash
# Parity on the GPU (issue 7): the fixture models' TestParity tests — float32
# against the reference outputs with TF32 off, and the bf16 tests' bounds —
# as test binaries built on the CPU machine (scripts/gpu/prepare.sh) and
# unpacked by bench.sh into $TESTBIN, run
# with GOMLX_BACKEND pointing at the GPU; for dualtoken also the uint8
# reconstruction's byte-for-byte tests. Prints one line per package:
#   package  exit-code  seconds  passed  failed
# Full logs: $RAW/parity_<package>.log (PARITY_TAG=x makes it parity_x_<package>.log).
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
for pkg in ${PARITY_PKGS:-siglip llm dualtoken}; do
  log=$RAW/parity_${PARITY_TAG:+${PARITY_TAG}_}$pkg.log
  t0=$(date +%s)
  rc=0
  run='^TestParity'
  if [[ $pkg == dualtoken ]]; then
    # Also the uint8 reconstruction (the recon task's device call) against the
    # float path plus the host's conversion, byte for byte, on the card.
    run='^TestParity|^TestUint8ConversionsMatchHost$|^TestReconstructUint8MatchesFloatPath$'
  fi
  (cd "$ROOT/model/$pkg" && GOMLX_BACKEND="$backend" DUALTOKEN_FIXTURES="$FIXTURES" CI=true \
    "$TESTBIN/$pkg.test" -test.run "$run" -test.v -test.count=1 >"$log" 2>&1) || rc=$?
  pass=$(grep -c -- '^--- PASS: Test' "$log" || true)
  fail=$(grep -c -- '^--- FAIL: Test' "$log" || true)
  printf '%s\t%d\t%d\t%d\t%d\n' "$pkg" "$rc" $(($(date +%s) - t0)) "$pass" "$fail"
  ((rc == 0)) || status=1
done
exit "$status"
