#!/usr/bin/env bash
# The runwatch benchmark (issue 6), one command:
#
#   tests/bench/run.sh [--latency MS] [--quick] [--only a,b,c,d,e] [--out DIR] [--no-build]
#   tests/bench/run.sh --profile       # callgrind: where the CPU goes in (a) and (b), per 1,000 runs
#   tests/bench/run.sh --lib-dir DIR   # runwatch loads its Lua library from DIR (A/B a library change)
#   tests/bench/run.sh --no-baseline   # only the runwatch side (the baseline takes most of the time)
#   tests/bench/run.sh --check         # exit 3 when a workload misses its target (before a release; not CI)
#
# Builds runwatch (cmake, build/), compiles the `measure` helper, starts the W&B test server
# (tests/server) with a fixed latency per request (default 50 ms), then runs each workload with
# runwatch and with the baseline client (baseline.js: the W&B Python SDK's request sequence) and
# prints the table. --quick scales the sizes down for a smoke check (~1 minute); the full run
# takes ~6-10 minutes on 2 cores. RUNWATCH=/path/to/runwatch uses that binary instead of
# building. How to read the numbers: docs/benchmark.md.
set -eu
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

latency=50
args=()
build=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --latency) latency="$2"; shift 2 ;;
    --quick) args+=(--quick); shift ;;
    --only) args+=(--only "$2"); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --profile) args+=(--profile); shift ;;
    --lib-dir) args+=(--lib-dir "$(cd "$2" && pwd)"); shift 2 ;;
    --no-baseline) args+=(--no-baseline); shift ;;
    --check) args+=(--check); shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v node >/dev/null || { echo "run.sh: node is needed (the test server and the baseline)" >&2; exit 2; }
[ -d "$root/tests/server/node_modules/graphql" ] || npm ci --prefix "$root/tests/server" >/dev/null

bin="${RUNWATCH:-}"
if [ -z "$bin" ]; then
  bin="$root/build/runwatch"
  if [ "$build" = 1 ]; then
    echo "[bench] building runwatch (cmake, $root/build)" >&2
    cmake -S "$root" -B "$root/build" >/dev/null
    cmake --build "$root/build" -j2 --target runwatch >/dev/null
  fi
fi
[ -x "$bin" ] || { echo "run.sh: no runwatch binary at $bin" >&2; exit 2; }

[ -n "$out" ] || out="$(mktemp -d "${TMPDIR:-/tmp}/runwatch-bench.XXXXXX")"
mkdir -p "$out"
cc -O2 -std=c11 -o "$out/measure" "$here/measure.c"

exec "$root/tests/server/with-server.sh" --empty --latency "$latency" -- \
  node "$here/measure.js" --runwatch "$bin" --measure "$out/measure" --out "$out" --latency "$latency" ${args[@]+"${args[@]}"}
