#!/bin/sh
# Installs the Debian packages moongate needs, only those missing.
set -e
need="build-essential pkg-config libevent-dev libluajit-5.1-dev luajit \
lua-cjson libssl-dev libhttp-parser-dev lua-busted python3 python3-pytest curl"
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "moongate: installing Debian packages:$missing" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
