#!/usr/bin/env bash
# Run a command against a fresh W&B test server on an ephemeral port: with-server.sh [--fixtures F] [--latency MS] [server args...] -- CMD ARGS...
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
server_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  server_args+=("$1")
  shift
done
if [ $# -eq 0 ] || [ "$1" != "--" ] || [ $# -lt 2 ]; then
  echo "usage: with-server.sh [--fixtures F] [--latency MS] [server options] -- CMD ARGS..." >&2
  exit 2
fi
shift

tmp="$(mktemp -d "${TMPDIR:-/tmp}/rw-server.XXXXXX")" || exit 2
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

node "$here/server.js" --port 0 ${server_args[@]+"${server_args[@]}"} >"$tmp/port" 2>"$tmp/stderr" &
server_pid=$!

# wait (up to 15 s) for the {"port":N,"url":"..."} line
url=""
for _ in $(seq 1 300); do
  if [ -s "$tmp/port" ]; then
    url="$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$tmp/port" | head -n 1)"
    [ -n "$url" ] && break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "with-server.sh: the test server exited early:" >&2
    cat "$tmp/stderr" >&2
    exit 2
  fi
  sleep 0.05
done
if [ -z "$url" ]; then
  echo "with-server.sh: the test server did not start within 15 s" >&2
  cat "$tmp/stderr" >&2
  exit 2
fi

export RW_TEST_SERVER="$url"
export WANDB_BASE_URL="$url"
export WANDB_API_KEY="rwtest_0123456789abcdef0123456789abcdef01234567"
export WANDB_ENTITY="rw-team"
export NETRC=/nonexistent

"$@"
status=$?
exit "$status"
