#!/bin/sh
# `make run`: the mock provider on 127.0.0.1:9001 (so the gateway answers
# without any provider key), then the gateway on 127.0.0.1:8080 with
# examples/moongate.lua. Ctrl-C stops both.
cd "$(dirname "$0")/.." || exit 2
MOCK_PORT=${MOCK_PORT:-9001}
build/rel/moongate-mock -p "$MOCK_PORT" &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT INT TERM
echo "mock provider on 127.0.0.1:$MOCK_PORT; gateway on 127.0.0.1:8080 (Ctrl-C stops)" >&2
./moongate -c "${CONFIG:-examples/moongate.lua}"
