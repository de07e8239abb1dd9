#!/bin/sh
# bench/run.sh [--smoke] [bench.py options]: installs what the bench needs, builds, runs it.
#   1. Debian packages, only those missing: wrk, nginx-light, nodejs + npm (only if `node` is missing)
#   2. make all (the bench runs build/rel/moongate and build/rel/moongate-mock)
#   3. build/rel/sseload from bench/sseload.c
#   4. npm install in bench/portkey when node_modules is missing (Portkey is skipped if that fails)
#   5. /usr/bin/python3 bench/bench.py "$@"
# Full mode prepends the run to bench/RESULTS.md and writes bench/chart.svg. --smoke runs
# every lane for a few seconds, writes nothing in the tree, and exits non-zero only when
# the harness itself broke (a missed performance target is printed, not a failure).
set -u
cd "$(dirname "$0")/.." || exit 2
SMOKE=0
for a in "$@"; do [ "$a" = "--smoke" ] && SMOKE=1; done
say() { echo "bench/run.sh: $*" >&2; }
fail() { say "$*"; [ "$SMOKE" = 1 ] && echo "bench smoke: 0 passed, 1 failed"; exit 1; }

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# 1. packages
sh tools/deps.sh || fail "tools/deps.sh failed"
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || missing="$missing nginx-light"
if ! command -v node >/dev/null 2>&1; then
  missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || installed npm || missing="$missing npm"
fi
if [ -n "$missing" ]; then
  say "installing Debian packages:$missing"
  $SUDO apt-get update -qq >/dev/null 2>&1
  for p in $missing; do
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$p" >/dev/null 2>&1 \
      || say "apt-get install $p failed"
  done
  # Debian's nginx unit may have started a server on :80 at install: the bench never uses it.
fi
command -v wrk >/dev/null 2>&1 || fail "wrk is missing"
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || fail "nginx is missing"

# 2. build
make --no-print-directory all >/dev/null || fail "make all failed"

# 3. sseload
if [ -f bench/sseload.c ]; then
  if [ ! -x build/rel/sseload ] || [ -n "$(find bench/sseload.c -newer build/rel/sseload)" ]; then
    mkdir -p build/rel
    # shellcheck disable=SC2046
    cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE $(pkg-config --cflags libevent) \
      bench/sseload.c -o build/rel/sseload $(pkg-config --libs libevent) -lm \
      || fail "building sseload failed"
  fi
else
  say "bench/sseload.c missing: lanes 3 and 4 cannot run"
fi

# 4. Portkey (pinned in bench/portkey/package.json); slow or unreachable npm: skip it
if command -v npm >/dev/null 2>&1 && [ ! -d bench/portkey/node_modules/@portkey-ai/gateway ]; then
  limit=300; [ "$SMOKE" = 1 ] && limit=90
  say "npm install in bench/portkey (up to ${limit} s)"
  if ! (cd bench/portkey && timeout "$limit" npm install --no-audit --no-fund --no-package-lock \
        --loglevel=error >/dev/null 2>&1); then
    say "npm install failed or was too slow: Portkey is skipped"
    rm -rf bench/portkey/node_modules
  fi
fi

# 5. the bench (it raises its own open-files limit for 4096 streams)
exec /usr/bin/python3 bench/bench.py "$@"
