#!/bin/sh
# Runs the test suites and prints one closing line "N passed, N failed".
# BUILD=build/rel|build/san picks the binaries; ONLY=unit|lua|integration|bench runs one suite.
BUILD=${BUILD:-build/rel}
ONLY=${ONLY:-}
cd "$(dirname "$0")/.." || exit 2
PASS=0; FAIL=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM

add() { PASS=$((PASS + ${1:-0})); FAIL=$((FAIL + ${2:-0})); }

if [ "$BUILD" = build/san ]; then
  # A small quarantine keeps RSS meaningful for the memory-bound tests; the
  # suppressions only cover OpenSSL's process-wide caches.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=23:quarantine_size_mb=8"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$(pwd)/tools/lsan.supp:print_suppressions=0"
fi

if [ -z "$ONLY" ] || [ "$ONLY" = unit ]; then
  echo "== C unit tests ($BUILD)"
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out="$tmp/unit.out"
    "$t" >"$out" 2>&1; rc=$?
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    p=$(echo "$line" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\2/p')
    f=$(echo "$line" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\3/p')
    [ -z "$p" ] && { p=0; f=1; }
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
    [ "$f" != 0 ] && cat "$out"
    echo "  $(basename "$t"): $p passed, $f failed"
    add "$p" "$f"
  done
fi

if [ -z "$ONLY" ] || [ "$ONLY" = lua ]; then
  echo "== busted specs (LuaJIT)"
  busted --lua=luajit -o TAP >"$tmp/busted.out" 2>&1; rc=$?
  p=$(grep -cE '^ok ' "$tmp/busted.out"); f=$(grep -cE '^not ok ' "$tmp/busted.out")
  [ $rc -ne 0 ] && [ "$f" = 0 ] && { f=1; cat "$tmp/busted.out"; }
  [ "$f" != 0 ] && grep -A12 -E '^not ok ' "$tmp/busted.out"
  echo "  busted: $p passed, $f failed"
  add "$p" "$f"
fi

if [ -z "$ONLY" ] || [ "$ONLY" = integration ]; then
  echo "== integration specs (real binary + mock on loopback)"
  MOONGATE_BIN="$BUILD/moongate" MOCK_BIN="$BUILD/moongate-mock" \
    /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider -rfE >"$tmp/it.out" 2>&1; rc=$?
  tail -40 "$tmp/it.out"
  summary=$(tail -1 "$tmp/it.out")
  p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+'); p=${p:-0}
  f=$(echo "$summary" | grep -oE '[0-9]+ (failed|error|errors)' | awk '{s+=$1} END {print s+0}')
  [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
  echo "  integration: $p passed, $f failed"
  add "$p" "$f"
fi

# A few seconds per benchmark lane so the harness cannot rot (normal build only).
if { [ -z "$ONLY" ] && [ "$BUILD" = build/rel ]; } || [ "$ONLY" = bench ]; then
  echo "== bench smoke (make bench, shortened)"
  sh bench/run.sh --smoke >"$tmp/bench.out" 2>&1; rc=$?
  line=$(grep -E 'bench smoke: [0-9]+ passed, [0-9]+ failed' "$tmp/bench.out" | tail -1)
  p=$(echo "$line" | sed -nE 's/.*smoke: ([0-9]+) passed, ([0-9]+) failed.*/\1/p'); p=${p:-0}
  f=$(echo "$line" | sed -nE 's/.*smoke: ([0-9]+) passed, ([0-9]+) failed.*/\2/p'); f=${f:-1}
  [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
  [ "$f" != 0 ] && tail -30 "$tmp/bench.out"
  echo "  bench smoke: $p passed, $f failed"
  add "$p" "$f"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
