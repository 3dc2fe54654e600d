-- What real scripts use beyond the basics, against the test server: projects across pages and
-- the default entity, system metrics (latest values and series), files listed and downloaded
-- byte for byte (a missing one is an error), sweeps and their best run, run:delete, updated_at,
-- per-call timeouts, a second Api object, extra headers on http.post.
local t = require "testlib"
local wb = require "wbtest"
local core = require "runwatch.core"

-- projects, one per page, against the server's own list
local want = {}
for _, p in ipairs(wb.admin("GET", "projects")) do if p.entity == "rw-team" then want[#want + 1] = p.name end end
table.sort(want)
wb.clear_requests()
local got = {}
for _, p in ipairs(api.projects("rw-team", {per_page = 1})) do got[#got + 1] = p.name end
table.sort(got)
t.eq(got, want, "every project of rw-team")
t.eq(#wb.requests("Projects"), #want + 0, "one page per project (per_page = 1)")
t.eq(api.default_entity, "rw-team", "the viewer's default entity")
local vision
for _, p in ipairs(api.projects("rw-team")) do if p.name == "vision" then vision = p end end
t.ok(vision and #vision.runs() > 0, "a project's runs")

-- system metrics
local run = api.run("rw-team/vision/abc123xy")
local stored = wb.stored("rw-team/vision/abc123xy", true)
local events = {}
for _, e in ipairs(stored.events or {}) do events[#events + 1] = type(e) == "string" and json.decode(e) or e end
t.ok(#events > 0, "the fixture run has system events")
t.eq(run:history{stream = "system"}, events, "system series equal the server's")
local scanned = {}
for row in run:scan_history{stream = "system"} do scanned[#scanned + 1] = row end
t.eq(scanned, events, "scan_history over the system stream")
-- latest values: the server's systemMetrics, which defaults to the latest value of each event key
local sm = {}
if type(stored.systemMetrics) == "string" then sm = json.decode(stored.systemMetrics)
else for _, e in ipairs(events) do for k, v in pairs(e) do sm[k] = v end end end
t.ok(next(sm) ~= nil, "the server has latest system metrics")
for k, v in pairs(sm) do
  if k:sub(1, 1) ~= "_" then t.eq(run.system_metrics[k], v, "system_metrics." .. k) end
end

-- more fields
t.eq(run.user.username, stored.user.username)
t.eq(run.updated_at, stored.updatedAt, "updated_at")
t.ok(type(run.runtime) == "number" and run.runtime > 0, "runtime in seconds: " .. tostring(run.runtime))
t.eq(run.last_step, stored.lastStep, "last_step from the server's count")

-- files
local files = run:files()
local names = {}
for _, f in ipairs(files) do names[#names + 1] = f.name end
local wantf = {}
for _, f in ipairs(stored.files) do wantf[#wantf + 1] = f.name end
table.sort(names); table.sort(wantf)
t.eq(names, wantf, "files listed")
t.eq(#files, #wantf, "#files")
local small = run:files{per_page = 1}
local n = 0
for _ in ipairs(small) do n = n + 1 end
t.eq(n, #wantf, "files across pages of 1")
local f = run:file("requirements.txt")
local content = f:read()
-- the content the server was loaded with, from its fixture file
local fx = io.open((os.getenv("RW_TESTS") or "tests") .. "/server/fixtures/default.json")
local fixtures = json.decode(fx:read("a")); fx:close()
local expected
for _, p in ipairs(fixtures.projects) do for _, r in ipairs(p.runs) do
  if r.name == "abc123xy" then for _, sf in ipairs(r.files) do if sf.name == "requirements.txt" then expected = sf.content end end end
end end
t.ok(expected ~= nil, "the fixture has the content")
t.eq(content, expected, "read() byte for byte")
t.eq(#content, f.size, "size")
local dir = os.tmpname(); os.remove(dir); dir = dir .. "-dl/"
local path = f:download(dir)
local fh = io.open(path, "rb"); local disk = fh:read("a"); fh:close()
t.eq(disk, expected, "download() byte for byte")
t.checkerr("file exists", f.download, f, dir)
t.eq(f:download(dir, {replace = true}), path, "replace")
os.remove(path); os.remove(dir)
local ok, err = pcall(run.file, run, "no-such-file.txt")
t.ok(not ok and tostring(err):find("no file no-such-file.txt", 1, true), "missing file: a clear error: " .. tostring(err))
local pat = run:files{pattern = "%.json"}
t.ok(#pat >= 1 and pat[1].name:match("%.json$"), "pattern (SQL LIKE)")

-- sweeps
local sw = api.sweep("rw-team/vision/sw3ep9ab")
t.eq(sw.id, "sw3ep9ab")
t.eq(sw.state, "RUNNING")
t.eq(sw.method, "bayes")
t.eq(sw.metric.name, "val_loss", "metric name from the YAML config")
t.eq(sw.metric.goal, "minimize")
local sruns = 0
for _, r in ipairs(sw.runs) do t.eq(r.sweep_name, "sw3ep9ab"); sruns = sruns + 1 end
t.ok(sruns >= 2, "sweep runs: " .. sruns)
local lo, hi = math.huge, -math.huge
for _, r in ipairs(sw.runs) do
  local v = r.summary.loss
  if type(v) == "number" and v == v then lo = math.min(lo, v); hi = math.max(hi, v) end
end
t.eq(sw:best_run("loss").summary.loss, lo, "best_run: lowest loss (the config's goal is minimize)")
t.eq(sw:best_run("loss", "-").summary.loss, hi, "best_run with an explicit order")
t.eq(sw:best_run(), nil, "no run of the sweep has the config's metric (val_loss): nil")
ok, err = pcall(api.sweep, "rw-team/vision/nosweep")
t.ok(not ok and tostring(err):find("Could not find sweep", 1, true), "missing sweep")

-- delete: for real, the run is gone
local victim = api.run("rw-team/nlp/" .. api.runs("rw-team/nlp")[1].id)
local vpath = victim.path
t.eq(victim:delete(), true, "deleted")
api.flush()
ok, err = pcall(api.run, vpath)
t.ok(not ok and tostring(err):find("Could not find run", 1, true), "the run is gone")

-- per-call timeout: an answer slower than it is a CommError within about that time
wb.admin("POST", "faults", {rules = {{match = {op = "Run"}, times = -1, action = {delay_ms = 3000}}}})
api.flush()
local t0 = core.monotonic()
ok, err = pcall(api.run, "rw-team/vision/abc123xy", {timeout = "0.5s"})
t.ok(not ok and core.monotonic() - t0 < 2.5, "per-call timeout honoured: " .. tostring(err))
wb.admin("DELETE", "faults")

-- a second Api object with its own base URL and key
local other = api.Api{base_url = wb.base, api_key = "rwtest_second_key_0123456789abcdef0123456789ab"}
t.eq(other.run("rw-team/vision/abc123xy").id, "abc123xy", "second api with another key")

-- http.post with extra headers (bot tokens of other services)
local hooks = wb.base:gsub("127%.0%.0%.1", "localhost") .. "/hooks/"
local res = http.post(hooks .. "bot", {text = "hi"}, {headers = {["X-Bot-Token"] = "bot-token-123"}, timeout = "5s"})
t.eq(res.status, 200)
local rec = wb.admin("GET", "hooks?name=bot")
t.eq(rec[1].headers["x-bot-token"], "bot-token-123", "extra header delivered")
t.eq(rec[1].has_authorization, false, "no W&B key sent to another host")
t.done()
