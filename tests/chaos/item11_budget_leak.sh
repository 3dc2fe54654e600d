# Issue 12 item 11: nothing may leak a request-budget slot, and `runwatch once` never exits 0
# after losing work. A script calls W&B ten times (more than the 8 slots in flight) with a
# malformed key, then, in another process, with no key at all; a later call with a good key on
# the same host must still be answered. A job that waits for something that never comes must
# make `runwatch once` exit non-zero.
. "$(dirname "$0")/lib.sh"
start_server
run=rw-team/leak/$(generate rw-team/leak 1 0 5 111)
mkdir -p "$tmp/d"
cat > "$tmp/d/leak.lua" <<'LUA'
local target = os.getenv("TARGET")
local bad = os.getenv("BAD") == "malformed" and api.Api{api_key = "too-short-to-be-a-key"} or api
local failed = 0
for _ = 1, 10 do
  local ok = pcall(function() return bad.run(target).name end)
  if not ok then failed = failed + 1 end
end
print("calls without a usable key failed: " .. failed)
local good = api.Api{api_key = os.getenv("GOOD_KEY")}
print("later call answered: " .. good.run(target).id)
LUA
cat > "$tmp/d/lost.lua" <<'LUA'
spawn(function()
  require("runwatch.task").await(function(resume) end)   -- nothing will ever call resume
  print("never printed")
end)
print("top level done")
LUA

# one_case NAME ENV...: the leak script under `runwatch once`; sets rc, answered
one_case() {
  local name=$1; shift
  env "$@" TARGET="$run" GOOD_KEY="$TEST_KEY" timeout 60 "$RW_BIN" once $LIB --state "$tmp/$name.db" "$tmp/d/leak.lua" > "$tmp/$name.out" 2>&1
  rc=$?
  answered=$(grep -c '^later call answered: ' "$tmp/$name.out")
  failed=$(sed -n 's/^calls without a usable key failed: //p' "$tmp/$name.out")
}
one_case malformed BAD=malformed
check item11.malformed-key 11 "$(holds "answered == 1 && rc == 0 && ${failed:-0} == 10")" \
  "calls with a malformed key that failed: ${failed:-none reported (the script never got past them)} of 10; the later call with a good key answered: $answered; exit status $rc"
check item11.malformed-key.no-silent-loss 11 "$(holds "answered == 1 || rc != 0")" \
  "the later call answered: $answered, exit status $rc (0 without the answer: work lost silently)"
one_case missing -u WANDB_API_KEY BAD=missing
check item11.missing-key 11 "$(holds "answered == 1 && rc == 0 && ${failed:-0} == 10")" \
  "calls with no key that failed: ${failed:-none reported (the script never got past them)} of 10; the later call with a good key answered: $answered; exit status $rc"
check item11.missing-key.no-silent-loss 11 "$(holds "answered == 1 || rc != 0")" \
  "the later call answered: $answered, exit status $rc (0 without the answer: work lost silently)"
timeout 60 "$RW_BIN" once $LIB --state "$tmp/lost.db" "$tmp/d/lost.lua" > "$tmp/lost.out" 2>&1; rc=$?
check item11.once-lost-job 11 "$(holds "rc != 0 && rc != 124")" \
  "a job waiting for a callback that never comes: runwatch once exit status $rc (non-zero expected; 124 = hung); $(grep -v '^top level' "$tmp/lost.out" | grep -v '^ ' | tail -1 | cut -c1-120)"
[ "$n_fail" = 0 ] || { show_log "$tmp/malformed.out" 5; show_log "$tmp/missing.out" 5; }
finish
