-- Measures a verified artifact download: MB (default 200) of bytes from the test server streamed to
-- disk, with the peak RSS of runwatch before and after (docs/artifacts.md). Not a test: run it as
--   MB=200 LUA_PATH="tests/lua/?.lua;;" tests/server/with-server.sh -- build/runwatch once --lib-dir scripts/lib tests/lua/bench_artifact_download.lua
local wb = require "wbtest"
local function hwm()
  for l in io.lines("/proc/self/status") do local v = l:match("^VmHWM:%s*(%d+)") if v then return tonumber(v) end end
end
local size = tonumber(os.getenv("MB") or "200") * 1024 * 1024
wb.admin("POST", "artifacts/version", {entity = "rw-team", project = "vision", type = "model", name = "huge",
  files = {["weights.bin"] = {bytes = size, seed = 5}}})
local a = api.artifact("rw-team/vision/huge:latest")
local before = hwm()
local t0 = require("runwatch.core").now()
local dir = os.tmpname(); os.remove(dir)
local _, st = a:download(dir)
local dt = require("runwatch.core").now() - t0
print(string.format("downloaded %d MB (verified) in %.2f s; peak RSS %d MB before, %d MB after", size // 1048576, dt, before // 1024, hwm() // 1024))
os.execute("rm -rf " .. dir)
