#!/bin/sh
# Installs what the fuzz targets need beyond tools/deps.sh (only those
# missing): clang and its runtime (libclang_rt.fuzzer and the sanitizers),
# plus the libraries the targets link. Kept apart so `make test` needs no clang.
set -e
need="clang libclang-rt-14-dev pkg-config libevent-dev libluajit-5.1-dev lua-cjson"
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "moongate: installing Debian packages for fuzzing:$missing" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
