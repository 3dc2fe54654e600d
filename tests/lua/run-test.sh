#!/usr/bin/env bash
# Runs one Lua test with the runwatch binary in once mode, from the source tree's scripts/lib.
set -eu
bin=$1; shift
here=$(cd "$(dirname "$0")/../.." && pwd)
exec "$bin" once --lib-dir "$here/scripts/lib" "$@"
