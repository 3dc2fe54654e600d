# Issue 18 item 1: libcurl is loaded at the first transfer (runtime/curl_lazy.c), never at start:
# `--help`, `check`, `inspect`, local-run scripts and scripts without network do not load it
# (glibc's LD_DEBUG=files names every library a process loads, dlopen'ed ones too, and
# /proc/self/maps shows what is mapped); the first transfer loads it once, also when two jobs
# start their first transfers together; a missing libcurl is a clear error at the first
# transfer, not at start.
. "$(dirname "$0")/lib.sh"
loads_curl() { grep -q 'file=libcurl' "$1"; }

# nothing that needs no network loads libcurl
LD_DEBUG=files $RW --help >/dev/null 2>"$tmp/ld"; loads_curl "$tmp/ld" && bad "--help loads libcurl" || ok
LD_DEBUG=files $RW check --help >/dev/null 2>"$tmp/ld"; loads_curl "$tmp/ld" && bad "check --help loads libcurl" || ok
echo 'every("1m", function() print(http.get("http://127.0.0.1:9/")) end)' > "$tmp/net.lua"
LD_DEBUG=files $RW check $LIB "$tmp/net.lua" >/dev/null 2>"$tmp/ld"; loads_curl "$tmp/ld" && bad "check loads libcurl" || ok
grep -q 'file=libsqlite3' "$tmp/ld" && ok || bad "LD_DEBUG=files did not name the linked libraries (the check above proves nothing)"
LD_DEBUG=files $RW once $LIB -e 'print(1)' >/dev/null 2>"$tmp/ld"; loads_curl "$tmp/ld" && bad "once -e 'print(1)' loads libcurl" || ok
runs="${RW_SHARED:-$RW_SRC/../shared}/wandb-runs"
if [ -d "$runs" ]; then
  LD_DEBUG=files $RW inspect $LIB "$runs" >/dev/null 2>"$tmp/ld"; loads_curl "$tmp/ld" && bad "inspect loads libcurl" || ok
  LD_DEBUG=files $RW once $LIB --local "$runs" -e 'print(#api.runs())' >/dev/null 2>"$tmp/ld"
  loads_curl "$tmp/ld" && bad "a local-runs script loads libcurl" || ok
else
  echo "SKIP (inspect and local runs part): $runs is absent"
fi

# mapped after the first transfer, not before; two first transfers at once: both done, one load
cat > "$tmp/maps.lua" <<'LUA'
local function mapped()
  local f = assert(io.open("/proc/self/maps"))
  local n = 0
  for line in f:lines() do if line:find("libcurl", 1, true) then n = n + 1 end end
  f:close()
  return n
end
print("before", mapped())
local ca, cb
local a = spawn(function() ca = select(3, http.get("http://127.0.0.1:9/")) end)
local b = spawn(function() cb = select(3, http.get("http://127.0.0.1:9/")) end)
a:wait(); b:wait()
print("codes", ca, cb)
local first = mapped()
print("after", first > 0)
http.get("http://127.0.0.1:9/")
print("again", mapped() == first)
LUA
expect_exit 0 $RW once $LIB "$tmp/maps.lua"
expect_match "$tmp/out" '^before	0$'
expect_match "$tmp/out" '^codes	7	7$'
expect_match "$tmp/out" '^after	true$'
expect_match "$tmp/out" '^again	true$'

# a missing libcurl: start-up and scripts without network work; the first transfer says why
RW_LIBCURL=libcurl-missing.so.9 expect_exit 0 $RW once $LIB -e 'print("no network needed")'
expect_match "$tmp/out" 'no network needed'
RW_LIBCURL=libcurl-missing.so.9 expect_exit 0 $RW once $LIB -e 'print(pcall(http.get, "http://127.0.0.1:9/"))'
expect_match "$tmp/out" 'false	.*cannot load libcurl \(libcurl-missing.so.9: .*\): install the libcurl4 package'
RW_LIBCURL=libcurl-missing.so.9 WANDB_API_KEY=rwtest_0123456789abcdef0123456789abcdef01234567 \
  WANDB_BASE_URL=http://127.0.0.1:9 expect_exit 0 $RW once $LIB -e 'print(pcall(api.run, "e/p/r"))'
expect_match "$tmp/out" 'cannot load libcurl'
RW_LIBCURL=libcurl-missing.so.9 expect_exit 0 $RW --version
expect_match "$tmp/out" 'cannot load libcurl'
finish
