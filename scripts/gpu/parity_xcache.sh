#!/usr/bin/env bash
# Parity through the XLA executable cache (DUALTOKEN_XLA_CACHE, package
# backend/xlacache): the fixture TestParity tests of PARITY_PKGS (default
# "dualtoken siglip") run twice with one empty cache folder. The first run
# compiles and stores every program; the second must load every one of them
# (no file added, no "xlacache:" warning) and pass the same tests on the
# loaded executables. Prints, per run and package:
#   run  package  exit-code  seconds  passed  failed  cache-files  warnings
# Called by bench.sh (step "parity_xcache"), with parity.sh's environment.
set -uo pipefail
RAW=${RAW:?} CACHE_DIR=${CACHE_DIR:?}
here=$(cd "$(dirname "$0")" && pwd)
export PARITY_PKGS=${PARITY_PKGS:-dualtoken siglip}
rm -rf "$CACHE_DIR"
mkdir -p "$CACHE_DIR"
status=0
files=()
for run in 1 2; do
  out=$(PARITY_TAG=xcache$run DUALTOKEN_XLA_CACHE=$CACHE_DIR bash "$here/parity.sh") || status=1
  n=$(find "$CACHE_DIR" -name '*.pjrt' | wc -l)
  files+=("$n")
  while IFS=$'\t' read -r pkg rc secs pass fail; do
    [[ -n $pkg ]] || continue
    log=$RAW/parity_xcache${run}_$pkg.log
    warn=$(grep -c '^xlacache:' "$log" 2>/dev/null || true)
    [[ -f $log ]] || { warn=1; echo "parity_xcache: no log $log" >&2; } # counted as a failure
    warn=${warn:-0}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$pkg" "$rc" "$secs" "$pass" "$fail" "$n" "$warn"
    ((warn == 0)) || status=1
  done <<<"$out"
done
# Run 1 must have stored programs and run 2 must have added none.
if ((files[0] == 0 || files[1] != files[0])); then
  echo "parity_xcache: cache files after run 1: ${files[0]}, after run 2: ${files[1]} (want >0 and equal)" >&2
  status=1
fi
exit "$status"
