#!/bin/sh
# fuzz/run.sh SECONDS TARGET... - runs build/fuzz/fuzz_<target> for SECONDS
# each, one after the other, and prints one line per target and a final
#   fuzz: N passed, N failed
# (passed: ran clean for the whole time; failed: found a crash, a leak, a
# timeout or broke an invariant - the input is in build/fuzz/artifacts/).
# Exit status 1 when any failed.
secs=$1; shift
pass=0; fail=0
mkdir -p build/fuzz/logs
for t in "$@"; do
  bin=build/fuzz/fuzz_$t
  work=build/fuzz/work/$t
  art=build/fuzz/artifacts/$t
  log=build/fuzz/logs/$t.log
  mkdir -p "$work" "$art" "fuzz/corpus/$t"
  set --
  [ -f "fuzz/$t.dict" ] && set -- "-dict=fuzz/$t.dict"
  # HTTP requests with bodies and pipelines need more room than the default 4 KiB.
  [ "$t" = http ] && set -- "$@" -max_len=16384
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$art/" "$@" "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -a 'DONE ' "$log" | sed -n 's/.*\(cov: [0-9]* ft: [0-9]*\).*/\1/p' | tail -n 1)
    echo "fuzz_$t: ok, ${runs:-?} runs in ${secs}s (${cov:-no stats})"
    pass=$((pass + 1))
  else
    echo "fuzz_$t: FAILED (log: $log)"
    grep -a -m 5 -E 'fuzz_[a-z]+: |ERROR: |SUMMARY: ' "$log" | sed 's/^/    /'
    ls -1 "$art" | sed "s|^|    artifact: $art/|" | tail -n 3
    fail=$((fail + 1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
