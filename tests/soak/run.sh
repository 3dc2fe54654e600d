#!/usr/bin/env bash
# Soak: runs the daemon (tests/soak/soak.lua: a watch, a rule with webhook and tag actions, a
# listing job, state writes) against the test server's live simulation for a while, switching
# faults on and off (429 storms with Retry-After, 500/502/503 bursts, dropped, truncated,
# malformed and slow answers, the server down for 10 s), and prints the daemon's RSS (VmRSS) and
# open file descriptors every 10 s. At the end: whether they grew (the mean of the first and last
# thirds after a warm-up, and a least-squares slope), the daemon's counters, and its exit status.
# CI does not run it (it takes minutes); see docs/reliability.md for a recorded run.
#
# usage: tests/soak/run.sh [--minutes N] [--bin PATH] [--lib-dir DIR] [--live-ms MS] [--runs N]
#                          [--running N] [--warmup SECS] [--keep]
# The daemon must also keep working: the rows its watch delivered and the listings it made must
# still grow in the last third ("progress").
# exit status: 0 flat and healthy, 1 growth or an unhealthy daemon, 2 usage or setup error.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
minutes=3; live_ms=200; runs=40; running=20; warmup=60; keep=0
bin=${RW_BIN:-$src/build/runwatch}
lib=$src/scripts/lib
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --lib-dir) lib=$2; shift 2 ;;
    --live-ms) live_ms=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --running) running=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "run.sh: no runwatch binary at $bin (build first, or give --bin)" >&2; exit 2; }
command -v node >/dev/null && [ -d "$src/tests/server/node_modules/graphql" ] ||
  { echo "run.sh: the test server needs node and 'npm ci --prefix tests/server'" >&2; exit 2; }
command -v curl >/dev/null || { echo "run.sh: needs curl" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rw-soak.XXXXXX")
server=""; daemon=""
cleanup() {
  [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [ "$keep" = 1 ]; then echo "files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# {====== the test server, with live simulation
node "$src/tests/server/server.js" --port 0 --live-ms "$live_ms" > "$tmp/server.out" 2> "$tmp/server.err" &
server=$!
url=""
for _ in $(seq 1 150); do
  url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$tmp/server.out" | head -1)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "run.sh: the test server did not start"; cat "$tmp/server.err"; exit 2; }
admin() {   # admin METHOD PATH [JSON]: the server's admin API (retried: it may be down)
  local i
  for i in 1 2 3 4 5; do
    if curl -sf -X "$1" "$url/_admin/$2" ${3:+-H 'Content-Type: application/json' -d "$3"} > "$tmp/admin.out" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}
admin POST generate "{\"entity\":\"rw-team\",\"project\":\"soak\",\"runs\":$runs,\"running\":$running,\"steps\":50,\"keys\":[\"loss\",\"acc\"],\"seed\":7}" ||
  { echo "run.sh: generate failed"; exit 2; }
# the generated runs' ids; the last $running are the running ones
mapfile -t running_ids < <(tr -d '[]"{}' < "$tmp/admin.out" | sed -n 's/.*names://p' | tr ',' '\n' | tail -n "$running")
[ "${#running_ids[@]}" -gt 0 ] || { echo "run.sh: no running runs generated"; cat "$tmp/admin.out"; exit 2; }
# }======

# {====== the daemon
WANDB_BASE_URL=$url WANDB_API_KEY=rwtest_0123456789abcdef0123456789abcdef01234567 WANDB_ENTITY=rw-team \
NETRC=/nonexistent SOAK_PROJECT=rw-team/soak SOAK_HOOK="$url/hooks/soak" \
  "$bin" run --lib-dir "$lib" --state "$tmp/state.db" "$here/soak.lua" > "$tmp/daemon.out" 2> "$tmp/daemon.err" &
daemon=$!
sleep 1
kill -0 "$daemon" 2>/dev/null || { echo "run.sh: the daemon did not start"; cat "$tmp/daemon.err"; exit 2; }
# }======

# {====== faults, one phase every 30 s
phases=(calm 429-storm calm 5xx-burst calm drops calm server-down)
set_phase() {
  admin DELETE faults
  case "$1" in
    429-storm) admin POST faults '{"rules":[{"match":{"path":"/graphql"},"times":40,"action":{"status":429,"headers":{"Retry-After":"1","RateLimit-Remaining":"0","RateLimit-Reset":"1"}}}]}' ;;
    5xx-burst) admin POST faults '{"rules":[{"match":{"path":"/graphql"},"times":10,"action":{"status":500}},{"match":{"path":"/graphql"},"times":10,"action":{"status":502}},{"match":{"path":"/graphql"},"times":10,"action":{"status":503}},{"match":{"path":"/hooks/"},"times":3,"action":{"status":503}}]}' ;;
    drops) admin POST faults '{"rules":[{"match":{"path":"/graphql"},"times":5,"action":{"drop":"before"}},{"match":{"path":"/graphql"},"times":5,"action":{"drop":"mid-body"}},{"match":{"path":"/graphql"},"times":5,"action":{"truncate":100}},{"match":{"path":"/graphql"},"times":5,"action":{"malformed":true}},{"match":{"path":"/graphql"},"times":3,"action":{"delay_ms":40000}}]}' ;;
    server-down) admin POST down '{"ms":10000}' ;;
  esac
}
# }======

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status" 2>/dev/null; }
fds() { ls "/proc/$daemon/fd" 2>/dev/null | wc -l; }
echo "soak: $minutes min against $url (live simulation every $live_ms ms; $runs runs, $running running); daemon pid $daemon"
echo "faults change every 30 s: ${phases[*]}; a NaN loss is injected every 60 s"
printf '%6s %8s %7s %5s %8s %6s  %s\n' t_s rss_kb lua_kb fds rows lists phase
end=$((SECONDS + minutes * 60))
start=$SECONDS
phase_i=0; phase=${phases[0]}; next_phase=$((start + 30)); next_sample=$((start + 10)); next_nan=$((start + 45))
: > "$tmp/samples"
while [ $SECONDS -lt $end ]; do
  sleep 1
  if ! kill -0 "$daemon" 2>/dev/null; then echo "the daemon died"; break; fi
  now=$SECONDS
  if [ $now -ge $next_sample ]; then
    r=$(rss); f=$(fds)
    counters=$(grep 'soak counters' "$tmp/daemon.err" | tail -1)
    rows=$(echo "$counters" | sed -n 's/.* rows=\([0-9]*\).*/\1/p'); rows=${rows:-0}
    lists=$(echo "$counters" | sed -n 's/.* lists=\([0-9]*\).*/\1/p'); lists=${lists:-0}
    luakb=$(echo "$counters" | sed -n 's/.* lua_kb=\([0-9]*\).*/\1/p'); luakb=${luakb:-0}
    printf '%6d %8s %7s %5s %8s %6s  %s\n' $((now - start)) "$r" "$luakb" "$f" "$rows" "$lists" "$phase"
    echo "$((now - start)) $r $f $rows $lists $luakb" >> "$tmp/samples"
    next_sample=$((next_sample + 10))
  fi
  if [ $now -ge $next_nan ] && [ "$phase" != server-down ]; then
    # a running run's next simulated row has a NaN loss (the rule fires; the next row resolves it)
    id=${running_ids[$(( (now / 60) % ${#running_ids[@]} ))]}
    admin POST "runs/rw-team/soak/$id" '{"nan":true}'
    admin DELETE requests   # keep the server's request log small
    next_nan=$((next_nan + 60))
  fi
  if [ $now -ge $next_phase ]; then
    phase_i=$(( (phase_i + 1) % ${#phases[@]} )); phase=${phases[$phase_i]}
    set_phase "$phase"
    next_phase=$((next_phase + 30))
    [ "$phase" = server-down ] && sleep 11   # the admin API is down with it
  fi
done
admin DELETE faults; admin POST up '{}' || true

# {====== verdict
alive=1; kill -0 "$daemon" 2>/dev/null || alive=0
kill -TERM "$daemon" 2>/dev/null; wait "$daemon"; rc=$?; daemon=""
hooks=$(curl -sf "$url/_admin/hooks?name=soak" | grep -o '"seq"' | wc -l)
echo
awk -v warm="$warmup" '
  $1 >= warm { n++; t[n] = $1; r[n] = $2; f[n] = $3; rows[n] = $4; lists[n] = $5; lua[n] = $6 }
  END {
    if (n < 3) { print "too few samples after the warm-up for a verdict"; exit 2 }
    k = int(n / 3); if (k < 1) k = 1
    for (i = 1; i <= k; i++) { r1 += r[i]; if (f[i] > f1) f1 = f[i] }
    for (i = n - k + 1; i <= n; i++) { r3 += r[i]; if (f[i] > f3) f3 = f[i] }
    r1 /= k; r3 /= k
    for (i = 1; i <= n; i++) { st += t[i]; sr += r[i] }
    mt = st / n; mr = sr / n
    for (i = 1; i <= n; i++) { sxy += (t[i] - mt) * (r[i] - mr); sxx += (t[i] - mt) ^ 2 }
    slope = sxx > 0 ? sxy / sxx * 60 : 0
    for (i = 1; i <= n; i++) { if (i == 1 || r[i] < rmin) rmin = r[i]; if (r[i] > rmax) rmax = r[i] }
    grow = r3 - r1
    limit = r1 * 0.05; if (limit < 1024) limit = 1024
    printf "RSS after %d s of warm-up: min %d KB, max %d KB; mean of the first third %.0f KB, of the last third %.0f KB (%+.0f KB); slope %+.1f KB/min\n", warm, rmin, rmax, r1, r3, grow, slope
    printf "open fds: at most %d in the first third, %d in the last third\n", f1, f3
    for (i = 1; i <= k; i++) l1 += lua[i]
    for (i = n - k + 1; i <= n; i++) l3 += lua[i]
    printf "Lua heap: mean of the first third %.0f KB, of the last third %.0f KB\n", l1 / k, l3 / k
    flat = (grow <= limit) && (f3 <= f1 + 2)
    p = n - k
    progress = rows[n] > rows[p] && lists[n] > lists[p]
    printf "progress in the last third: %+d history rows delivered, %+d listings\n", rows[n] - rows[p], lists[n] - lists[p]
    print "verdict: " (flat ? "flat" : "GROWING") ", " (progress ? "working" : "STALLED (no new rows or listings)")
    exit (flat && progress) ? 0 : 1
  }' "$tmp/samples"
verdict=$?
echo "daemon: $( [ $alive = 1 ] && echo "alive to the end" || echo "DIED" ), exit status $rc after SIGTERM; $hooks webhook notifications"
grep 'soak counters' "$tmp/daemon.err" | tail -1 | sed 's/^.*soak counters/last counters:/'
printf 'daemon log: %d lines, %d WARN, %d ERROR\n' "$(wc -l < "$tmp/daemon.err")" "$(grep -c ' WARN ' "$tmp/daemon.err")" "$(grep -c ' ERROR ' "$tmp/daemon.err")"
grep ' ERROR ' "$tmp/daemon.err" | sed -E 's/^[^ ]+ //' | cut -c1-160 | sort | uniq -c | sort -rn | head -5
[ $alive = 1 ] && [ $rc = 0 ] && [ $verdict = 0 ] && exit 0
exit 1
# }======
