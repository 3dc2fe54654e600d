# Issue 13 item 8: the API key never reaches output in any encoding, on any path a script writes
# to. A server (or proxy) that echoes the Authorization header in an error body; the key written
# with io.write, io.stdout/io.stderr, io.output() and handles opened on /dev/stdout and
# /dev/stderr; base64 of the key inside longer base64 text at each alignment, base64url,
# URL-encoded base64; an error raised with the header in it. tests/key_forms.sh lists the forms
# (with coreutils, independently of runtime/log.c); none may appear in stdout or stderr.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
KEY=rwtest_0123456789abcdef0123456789abcdef01234567
KEY2=rwtest_second_key_0123456789abcdef0123456789ab
"$RW_SRC/tests/key_forms.sh" "$KEY" "$KEY2" > "$tmp/forms"

cat > "$tmp/leak.lua" <<'LUA'
local core = require "runwatch.core"
local wb = {base = os.getenv("RW_TEST_SERVER")}
local key = os.getenv("WANDB_API_KEY")
local function admin(path, body)
  local r = assert(http.post(wb.base .. "/_admin/" .. path, body))
  assert(r.status == 200, r.body)
end
-- a server that echoes the Authorization header in an error body (400: not retried)
admin("faults", {rules = {
  {match = {op = "Run"}, times = 1, action = {status = 400,
    body = '{"errors":[{"message":"bad request; you sent Authorization: {{authorization}}"}]}'}},
  {match = {op = "Run"}, times = 1, action = {status = 404,
    body = '<html>proxy: no route for Authorization={{authorization}}</html>'}}}})
local ok, err = pcall(api.run, "rw-team/vision/abc123xy")
print("echoed:", ok, err)
log.warn("echoed in the log", {err = tostring(err)})
local ok2, err2 = pcall(api.run, "rw-team/vision/abc123xy")
print("echoed html:", ok2, err2)
-- a second key, given to Api{}
local other = api.Api{api_key = os.getenv("RW_KEY2")}
print("key2 b64:", core.base64("api:" .. os.getenv("RW_KEY2")))
-- io.*
io.write("io.write: ", key, "\n")
io.stdout:write("io.stdout: ", key, "\n")
io.stderr:write("io.stderr: ", key, "\n")
io.output():write("io.output: ", key, "\n")
io.stdout:flush()
local f = assert(io.open("/dev/stdout", "a")); f:write("devstdout: ", key, "\n"); f:close()
local g = assert(io.open("/dev/stderr", "a")); g:write("devstderr: ", key, "\n"); g:close()
io.stdout:write("io.stdout b64: ", core.base64("api:" .. key), "\n")
-- encodings
for a = 0, 2 do print("b64 align " .. a .. ":", core.base64(("\1"):rep(a) .. key .. "tail")) end
print("basic:", "Basic " .. core.base64("api:" .. key))
print("b64url:", (core.base64("zz" .. key .. "q"):gsub("%+", "-"):gsub("/", "_")))
print("urlenc:", (core.base64("api:" .. key):gsub("[+/=]", function(c) return string.format("%%%02X", c:byte()) end)))
print("plain still printed:", "rwtest_ is the prefix")
spawn(function() error("job error Basic " .. core.base64("api:" .. key)) end)
LUA
cat > "$tmp/inner.sh" <<SH
: > "$tmp/leak.out"; : > "$tmp/leak.err"     # appended to: the script opens /dev/stdout itself
RW_KEY2=$KEY2 $RW once $LIB "$tmp/leak.lua" >> "$tmp/leak.out" 2>> "$tmp/leak.err"
echo "exit \$?" >> "$tmp/leak.out"
RW_KEY2=$KEY2 $RW once $LIB --log-format json "$tmp/leak.lua" >> "$tmp/leak.out" 2>> "$tmp/leak.err"
exit 0
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh"
cat "$tmp/leak.out" "$tmp/leak.err" > "$tmp/all"
if grep -n -F -f "$tmp/forms" "$tmp/all"; then bad "a form of a key is in the output (lines above)"; else ok; fi
expect_match "$tmp/leak.out" '^exit 1$'      # the spawned job failed, nothing else did
expect_match "$tmp/leak.out" '^echoed:	false	CommError: HTTP 400: bad request; you sent Authorization: Basic \*\*\*'
expect_match "$tmp/leak.out" '^echoed html:	false	CommError: HTTP 404: .*Authorization=Basic \*\*\*'
expect_match "$tmp/leak.err" 'echoed in the log .*Basic \*\*\*'
expect_match "$tmp/leak.out" '^key2 b64:	\*\*\*$'
expect_match "$tmp/leak.out" '^io.write: \*\*\*$'
expect_match "$tmp/leak.out" '^io.stdout: \*\*\*$'
expect_match "$tmp/leak.err" '^io.stderr: \*\*\*$'
expect_match "$tmp/leak.out" '^io.output: \*\*\*$'
expect_match "$tmp/leak.out" '^devstdout: \*\*\*$'
expect_match "$tmp/leak.err" '^devstderr: \*\*\*$'
expect_match "$tmp/leak.out" '^io.stdout b64: \*\*\*$'
expect_match "$tmp/leak.out" '^b64 align 0:	\*\*\*'
expect_match "$tmp/leak.out" '^b64 align 1:	A\w*\*\*\*'
expect_match "$tmp/leak.out" '^basic:	Basic \*\*\*$'
expect_match "$tmp/leak.out" '^urlenc:	\*\*\*$'
expect_match "$tmp/leak.out" '^plain still printed:	rwtest_ is the prefix$'
expect_match "$tmp/leak.err" 'job error Basic \*\*\*'
finish
