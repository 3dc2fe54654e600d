# An artifact download killed (kill -9) while a file is in flight, then run again: the files
# verified before the kill are kept (not fetched again), nothing half-written is ever under a
# final name, the killed process's temporary is removed, and every file ends with its manifest MD5.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
cat > "$tmp/get.lua" <<'LUA'
local a = api.artifact("rw-team/vision/killed:latest")
local _, st = a:download(os.getenv("DIR"))
print(string.format("downloaded %d skipped %d", st.downloaded, st.skipped))
LUA
cat > "$tmp/check.lua" <<'LUA'
local digest = require "runwatch.digest"
local core = require "runwatch.core"
local fs = require "runwatch.fswatch"
local dir = os.getenv("DIR")
local bad, n = 0, 0
for _, e in ipairs(api.artifact("rw-team/vision/killed:latest"):manifest()) do
  n = n + 1
  local raw = digest.md5_file(dir .. "/" .. e.path)
  if not raw or core.base64(raw) ~= e.digest then bad = bad + 1; print("BAD " .. e.path) end
end
print("files " .. #fs.dir(dir) .. " manifest " .. n .. " bad " .. bad)
LUA
cat > "$tmp/inner.sh" <<SH
set -u
export DIR="$tmp/dl"
curl -s -X POST "\$RW_TEST_SERVER/_admin/artifacts/version" -d '{"entity":"rw-team","project":"vision","type":"model","name":"killed","files":{"a.bin":{"bytes":1000,"seed":1},"b.bin":{"bytes":40000000,"seed":2},"c.bin":{"bytes":2000,"seed":3}}}' >/dev/null
# b.bin: half its bytes, then the connection drops; the retry waits; the process is killed then
tok=\$($RW once $LIB -e 'print((api.artifact("rw-team/vision/killed:latest"):file("b.bin").direct_url:match("/storage/art/([0-9a-f]+)/")))')
curl -s -X POST "\$RW_TEST_SERVER/_admin/faults" -d "{\"rules\":[{\"match\":{\"path\":\"/storage/art/\$tok/\"},\"times\":1,\"action\":{\"drop\":\"mid-body\"}},{\"match\":{\"path\":\"/storage/art/\$tok/\"},\"times\":5,\"action\":{\"delay_ms\":4000}}]}" >/dev/null
$RW once $LIB "$tmp/get.lua" > "$tmp/first.out" 2>&1 &
pid=\$!
for i in \$(seq 1 100); do [ -f "\$DIR/a.bin" ] && [ -f "\$DIR/c.bin" ] && break; sleep 0.05; done
sleep 0.3
ls -a "\$DIR" > "$tmp/killed.ls"
kill -9 \$pid; wait \$pid 2>/dev/null
ls -a "\$DIR" > "$tmp/after-kill.ls"
curl -s -X DELETE "\$RW_TEST_SERVER/_admin/faults" >/dev/null
$RW once $LIB "$tmp/get.lua"
ls -a "\$DIR" > "$tmp/final.ls"
$RW once $LIB "$tmp/check.lua"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh" > "$tmp/out" 2>&1
expect_match "$tmp/after-kill.ls" '^\.b\.bin\.rw-[0-9]+\.part$'   # killed while b.bin was in flight
expect_no_match "$tmp/after-kill.ls" '^b\.bin$'                 # never under its name unverified
expect_match "$tmp/out" '^downloaded 1 skipped 2$'              # a.bin and c.bin kept
expect_match "$tmp/out" '^files 3 manifest 3 bad 0$'            # no temporary left, all verified
expect_no_match "$tmp/final.ls" 'part'
[ "$fail" = 0 ] || { sed 's/^/  | /' "$tmp/out"; echo "killed:"; cat "$tmp/killed.ls"; echo "after kill:"; cat "$tmp/after-kill.ls"; }
finish
