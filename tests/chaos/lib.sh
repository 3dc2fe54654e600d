# Shared by the issue-12 scenarios (tests/chaos/item*.sh) and the chaos suite (chaos.sh): a test
# server of their own, the runwatch binary as a user runs it, the server's admin API, counting at
# the receiving end (count.js), and the verdicts: PASS/FAIL, or XFAIL/XPASS for the checks listed
# in tests/chaos/known-failures (defects of today's main that the effect-path rebuild will fix).
#
# Environment: RW_BIN (the binary; default build/runwatch), RW_SRC (the source tree),
# RW_CHAOS_KNOWN (the known-failures file; /dev/null shows every check's plain verdict),
# RW_CHAOS_KEEP=1 (keep the scratch directory and say where it is).
set -u
CHAOS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RW_SRC=${RW_SRC:-$(cd "$CHAOS_DIR/../.." && pwd)}
RW_BIN=${RW_BIN:-$RW_SRC/build/runwatch}
KNOWN=${RW_CHAOS_KNOWN:-$CHAOS_DIR/known-failures}
LIB="--lib-dir $RW_SRC/scripts/lib"
TEST_KEY=rwtest_0123456789abcdef0123456789abcdef01234567

command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] ||
  { echo "SKIP: the test server needs node and 'npm ci --prefix tests/server'"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }
[ -x "$RW_BIN" ] || { echo "no runwatch binary at $RW_BIN (build first, or set RW_BIN)"; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rw-chaos.XXXXXX")
export XDG_STATE_HOME="$tmp/xdg-state"      # never the user's own state database
server_pid=""
bg_pids=""                                  # every background process this test started
disk_dir=""                                 # a small tmpfs mounted by small_disk
n_pass=0; n_fail=0; n_xfail=0; n_skip=0

chaos_cleanup() {
  local p
  for p in $bg_pids; do kill -9 "$p" 2>/dev/null; done
  for p in $bg_pids; do wait "$p" 2>/dev/null; done
  [ -n "$disk_dir" ] && umount "$disk_dir" 2>/dev/null
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  if [ "${RW_CHAOS_KEEP:-0}" = 1 ]; then echo "files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap chaos_cleanup EXIT
trap 'exit 130' INT TERM

# {====== the test server

# start_server [server options]: a fresh server on an ephemeral port; exports what the runwatch
# binary and the admin helpers need. HOOKS is the webhook receiver's base under another host name
# than the W&B origin (so the key must never go there).
start_server() {
  node "$RW_SRC/tests/server/server.js" --port 0 "$@" > "$tmp/server.out" 2> "$tmp/server.err" &
  server_pid=$!
  URL=""
  local i
  for i in $(seq 1 300); do
    URL=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$tmp/server.out" | head -1)
    [ -n "$URL" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$URL" ] || { echo "the test server did not start"; cat "$tmp/server.err"; exit 2; }
  export RW_TEST_SERVER="$URL" WANDB_BASE_URL="$URL" WANDB_API_KEY="$TEST_KEY" WANDB_ENTITY=rw-team NETRC=/nonexistent
  HOOKS="${URL/127.0.0.1/localhost}/hooks"
  export HOOKS
}

# admin METHOD PATH [JSON]: the server's admin API; the answer on stdout (retried: it may be down)
admin() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if curl -sf -X "$1" "$URL/_admin/$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; then return 0; fi
    sleep 0.3
  done
  echo "admin $1 $2 failed" >&2
  return 1
}

sim() { admin POST simulate "{\"steps\":${1:-1}}" > /dev/null; }

# start_sim [SECS]: a background loop that makes every running run log a row every SECS (default
# 0.2); stop_sim ends it (so that the final count compares against a history that stopped growing)
sim_pid=""
start_sim() {
  rm -f "$tmp/sim.stop"
  ( while [ ! -e "$tmp/sim.stop" ]; do
      curl -sf -X POST "$URL/_admin/simulate" -d '{"steps":1}' > /dev/null; sleep "${1:-0.2}"
    done ) &
  sim_pid=$!
  bg_pids="$bg_pids $sim_pid"
}
stop_sim() { [ -n "$sim_pid" ] && { touch "$tmp/sim.stop"; wait "$sim_pid" 2>/dev/null; sim_pid=""; }; return 0; }

# generate ENTITY/PROJECT RUNS RUNNING STEPS [SEED] [START_ISO]: synthetic runs; prints their ids,
# one a line, oldest first (the last RUNNING of them are running)
generate() {
  local e=${1%%/*} p=${1#*/}
  admin POST generate "{\"entity\":\"$e\",\"project\":\"$p\",\"runs\":$2,\"running\":$3,\"steps\":$4,\"keys\":[\"loss\",\"acc\"],\"seed\":${5:-1}${6:+,\"start\":\"$6\"}}" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const n of JSON.parse(s).names)console.log(n)})'
}

# }======

# {====== runwatch as a user runs it

rw() { "$RW_BIN" "$@"; }

# start_daemon VAR LOG ARGS...: `runwatch run ARGS` in the background; its pid goes into VAR
start_daemon() {
  local var=$1 log=$2; shift 2
  "$RW_BIN" run $LIB "$@" >> "$log" 2>&1 &
  local p=$!
  bg_pids="$bg_pids $p"
  printf -v "$var" '%s' "$p"
}

# stop_daemon PID [SECS]: SIGTERM, wait up to SECS (default 30), then SIGKILL; prints the status
stop_daemon() {
  local p=$1 secs=${2:-30} i
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 1 $((secs * 10))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null
}

# kill9 PID: SIGKILL and reap
kill9() { kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# wait_for SECS CMD...: until CMD succeeds (0) or SECS pass (1); CMD is tried every 0.25 s
wait_for() {
  local secs=$1 i; shift
  for i in $(seq 1 $((secs * 4))); do "$@" && return 0; sleep 0.25; done
  return 1
}

# inflight OP_OR_PATH: true while a request of that GraphQL operation (or a path, when it starts
# with /) has arrived at the server and is not answered yet (a delay fault holds it)
inflight() {
  local q
  case "$1" in /*) q="path=$1" ;; *) q="op=$1" ;; esac
  curl -sf "$URL/_admin/requests?$q" | node -e '
    let s=""; process.stdin.on("data", d => s += d).on("end", () => {
      const j = JSON.parse(s); const l = Array.isArray(j) ? j : j.requests;
      process.exit(l.some(r => r.status === null) ? 0 : 1); })'
}

# dump_rows STATE OUT: the rows the daemon's handlers recorded (script daemon.lua, keys "rows:<path>")
dump_rows() { "$RW_BIN" once $LIB --state "$1" "$CHAOS_DIR/dump/daemon.lua" > "$2"; }

# count WHAT ARGS...: counts at the receiving end (count.js); prints shell assignments
count() { node "$CHAOS_DIR/count.js" "$@"; }

# }======

# {====== a full disk: a real small tmpfs, mounted in a mount namespace of this test's own
# (a test that needs one sources tests/chaos/ns.sh before this file). small_disk DIR SIZE mounts a
# tmpfs of SIZE (e.g. 16m) at DIR, or returns 1 with the reason in disk_why.

small_disk() {
  mkdir -p "$1"
  if [ -z "${RW_CHAOS_NS:-}" ]; then disk_why=${RW_CHAOS_NS_WHY:-"not in a mount namespace of its own"}; return 1; fi
  if ! mount -t tmpfs -o "size=$2" tmpfs "$1" 2> "$tmp/mount.err"; then
    disk_why="mount -t tmpfs failed: $(head -1 "$tmp/mount.err")"
    return 1
  fi
  disk_dir=$1
}

# fill_disk / free_disk: fill the tmpfs with one file until ENOSPC; delete it
fill_disk() { dd if=/dev/zero of="$disk_dir/.fill" bs=64k 2>/dev/null; sync; df -k "$disk_dir" | awk 'NR == 2 {print "disk full: " $4 " KB free"}'; }
free_disk() { rm -f "$disk_dir/.fill"; }

# }======

# {====== verdicts

is_known() { sed 's/#.*//; s/[[:space:]]*$//' "$KNOWN" 2>/dev/null | grep -qxF -- "$1"; }

# check NAME ITEM OK COUNTS: OK is 1 when the check holds. ITEM is issue 12's item number.
check() {
  local name=$1 item=$2 ok=$3 counts=$4
  if is_known "$name"; then
    if [ "$ok" = 1 ]; then
      echo "XPASS $name: remove it from known-failures ($counts)"; n_fail=$((n_fail + 1))
    else
      echo "XFAIL $name (issue 12 item $item): $counts"; n_xfail=$((n_xfail + 1))
    fi
  elif [ "$ok" = 1 ]; then
    echo "PASS $name: $counts"; n_pass=$((n_pass + 1))
  else
    echo "FAIL $name (issue 12 item $item): $counts"; n_fail=$((n_fail + 1))
  fi
}

# skip NAME ITEM WHY: the check could not run here (says why; the test is skipped if nothing ran)
skip() { echo "SKIP $1 (issue 12 item $2): $3"; n_skip=$((n_skip + 1)); }

# holds EXPR: 1 if the arithmetic expression is true, else 0 (for check's OK argument)
holds() { if (( $1 )); then echo 1; else echo 0; fi; }

finish() {
  echo "$n_pass passed, $n_fail failed, $n_xfail known failures (XFAIL), $n_skip skipped"
  [ "$n_fail" = 0 ] || exit 1
  [ $((n_pass + n_xfail)) = 0 ] && [ "$n_skip" -gt 0 ] && exit 77
  exit 0
}

# show_log FILE: the last lines of a daemon's log, indented (after a failure)
show_log() { [ -f "$1" ] && tail -n "${2:-15}" "$1" | sed 's/^/  | /'; }

# }======
