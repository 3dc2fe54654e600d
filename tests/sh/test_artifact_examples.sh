# The artifact examples against the W&B test server: evaluate_newest_model writes the score into
# the producing run's summary (once), promote_best_model moves `production` to the version whose
# run has the best metric (computed here from the runs), dataset_slack sends one Slack message per
# new dataset version across restarts.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
EX="$RW_SRC/scripts/examples"
cat > "$tmp/best.lua" <<'LUA'
local best, bv
for _, v in ipairs(api.artifacts("rw-team/vision", "model", "resnet-demo")) do
  local r = v:logged_by()
  local x = r and r.summary.acc
  if type(x) == "number" and x == x and (not bv or x > bv) then best, bv = v, x end
end
print("best " .. best.version)
LUA
cat > "$tmp/eval_check.lua" <<'LUA'
local a = api.artifact("rw-team/vision/resnet-demo:latest")
local r = a:logged_by()
print("eval " .. tostring(r.summary["eval/resnet-demo"]) .. " " .. tostring(r.summary["eval/resnet-demo_version"]) .. " meta " .. tostring(a.metadata.val_acc))
LUA
cat > "$tmp/inner.sh" <<SH
set -u
export RW_PROJECT=rw-team/vision RW_MODEL=resnet-demo TMPDIR="$tmp"
$RW once $LIB "$tmp/best.lua"
$RW once $LIB --dry-run "$EX/promote_best_model.lua" > "$tmp/dry.out" 2>&1
curl -s "\$RW_TEST_SERVER/_admin/artifacts/rw-team/vision" > "$tmp/before.json"
RW_METRIC=acc $RW once $LIB "$EX/promote_best_model.lua" 2>/dev/null
curl -s "\$RW_TEST_SERVER/_admin/artifacts/rw-team/vision" > "$tmp/after.json"
$RW once $LIB "$EX/evaluate_newest_model.lua" 2>/dev/null
$RW once $LIB "$EX/evaluate_newest_model.lua" 2> "$tmp/eval2.err"
$RW once $LIB "$tmp/eval_check.lua"
export SLACK_WEBHOOK_URL="\$(echo \$RW_TEST_SERVER | sed s/127.0.0.1/localhost/)/hooks/slack"
S="--state $tmp/slack.db"
$RW once $LIB \$S "$EX/dataset_slack.lua" 2>/dev/null
curl -s -X POST "\$RW_TEST_SERVER/_admin/artifacts/version" -d '{"entity":"rw-team","project":"vision","type":"dataset","name":"mnist-small","files":{"a.csv":"1\n"},"description":"one more","created_by":"abc123xy"}' >/dev/null
$RW once $LIB \$S "$EX/dataset_slack.lua" 2>/dev/null
$RW once $LIB \$S "$EX/dataset_slack.lua" 2>/dev/null
curl -s "\$RW_TEST_SERVER/_admin/hooks?name=slack" > "$tmp/slack.json"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh" > "$tmp/out" 2>&1
best=$(sed -n 's/^best //p' "$tmp/out")
[ -n "$best" ] && ok || bad "no best version: $(cat "$tmp/out")"
node -e '
const f = (p) => JSON.parse(require("fs").readFileSync(p, "utf8")).collections.find((c) => c.name === "resnet-demo").aliases.production;
console.log("production before " + f(process.argv[1]) + " after " + f(process.argv[2]));' "$tmp/before.json" "$tmp/after.json" > "$tmp/prod.out"
expect_match "$tmp/prod.out" "after $best\$"
expect_match "$tmp/dry.out" 'would alias rw-team/vision/resnet-demo:v[0-9]+'
expect_match "$tmp/dry.out" 'aliases: \+production \(now on resnet-demo:v1\)'
expect_match "$tmp/out" '^eval 0\.87 v2 meta 0\.87$'
expect_match "$tmp/eval2.err" 'already evaluated'
[ "$(grep -o '"seq":' "$tmp/slack.json" | wc -l)" = 1 ] && ok || bad "want exactly one Slack message: $(cat "$tmp/slack.json")"
expect_match "$tmp/slack.json" 'New dataset version rw-team/vision/mnist-small:v3: 1 files, 2 bytes, logged by'
finish
