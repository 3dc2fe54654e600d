# Artifact events across kill -9: a watch on one collection while versions are created and
# aliases moved, the daemon killed at random moments and restarted each time; afterwards each
# new version was handled exactly once (the handler records it in the state store, in the
# collection's transaction with its cursor), each alias added exactly once, and the webhook the
# handler sends arrived for every version with one Idempotency-Key each.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
mkdir -p "$tmp/d" "$tmp/check"
cat > "$tmp/d/daemon.lua" <<'LUA'
local hook = os.getenv("RW_TEST_SERVER"):gsub("127%.0%.0%.1", "localhost") .. "/hooks/art"
watch{project = "rw-team/vision", artifacts = {type = "model", name = "kill-model"}, every = 0.1, id = "art-restart",
  on_artifact_version = function(a)
    local seen = state.get("versions") or json.array({})
    seen[#seen + 1] = a.version
    state.set("versions", seen)
    actions.webhook(hook, {version = a.version})
  end,
  on_alias = function(a, added)
    local seen = state.get("aliases") or json.array({})
    for _, x in ipairs(added) do seen[#seen + 1] = a.version .. "+" .. x end
    state.set("aliases", seen)
  end}
LUA
cat > "$tmp/check/daemon.lua" <<'LUA'
-- same script name as the daemon, so state.get sees its namespace
local v = state.get("versions") or {}
local a = state.get("aliases") or {}
print("versions " .. table.concat(v, ","))
print("aliases " .. table.concat(a, ","))
LUA
cat > "$tmp/inner.sh" <<SH
set -u
S="--state $tmp/state.db"
mk() { curl -s -X POST "\$RW_TEST_SERVER/_admin/artifacts/version" -d "{\"entity\":\"rw-team\",\"project\":\"vision\",\"type\":\"model\",\"name\":\"kill-model\",\"files\":{\"w.bin\":\"\$1\"},\"aliases\":[\"\$2\"]}" >/dev/null; }
mk v0 start                       # exists before the watch: primed, never an event
$RW once $LIB \$S "$tmp/d/daemon.lua" >> "$tmp/daemon.log" 2>&1   # the watch's first tick primes
n=0
for cycle in 1 2 3 4 5 6 7 8; do
  $RW run $LIB \$S "$tmp/d/daemon.lua" >> "$tmp/daemon.log" 2>&1 &
  pid=\$!
  for i in \$(seq 1 \$((RANDOM % 3 + 1))); do n=\$((n + 1)); mk "w\$n" "a\$n"; sleep 0.0\$((RANDOM % 9 + 1)); done
  sleep 0.\$((RANDOM % 4 + 1))
  kill -9 \$pid; wait \$pid 2>/dev/null
done
$RW run $LIB \$S "$tmp/d/daemon.lua" >> "$tmp/daemon.log" 2>&1 &
pid=\$!
sleep 1.5
kill -TERM \$pid; wait \$pid
echo "daemon exit \$?"
echo "created \$n"
$RW once $LIB \$S "$tmp/check/daemon.lua"
curl -s "\$RW_TEST_SERVER/_admin/hooks?name=art" > "$tmp/hooks.json"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh" > "$tmp/out" 2>&1
expect_match "$tmp/out" '^daemon exit 0$'
n=$(sed -n 's/^created //p' "$tmp/out")
want_v=$(seq 1 "$n" | sed 's/^/v/' | paste -sd, -)
want_a=$(seq 1 "$n" | sed 's/.*/v&\\+a&/' | paste -sd, -)
expect_match "$tmp/out" "^versions $want_v\$"
expect_match "$tmp/out" "^aliases $want_a\$"
node -e '
const hooks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const versions = new Set(hooks.map((h) => h.json && h.json.version));
const keys = new Set(hooks.map((h) => h.headers["idempotency-key"]));
console.log("hook versions " + versions.size + " keys " + keys.size);' "$tmp/hooks.json" > "$tmp/hooks.out"
expect_match "$tmp/hooks.out" "^hook versions $n keys $n\$"
if command -v sqlite3 >/dev/null; then
  sqlite3 "$tmp/state.db" 'PRAGMA integrity_check' > "$tmp/ic" 2>&1; expect_match "$tmp/ic" '^ok$'
fi
[ "$fail" = 0 ] || { sed 's/^/  | /' "$tmp/out" | head -30; tail -20 "$tmp/daemon.log"; }
finish
