-- Writes the demo W&B runs under --local DIR (default /tmp/rw-demo); `runwatch run` also grows a live run a few rows per second (RW_DEMO_STEPS rows, default 240) to demonstrate watching.
--
--   build/runwatch once --local /tmp/rw-demo scripts/demo/make_runs.lua
--   build/runwatch run  --local /tmp/rw-demo scripts/demo/make_runs.lua &   # + a live run
local core = require "runwatch.core"
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local demo = dofile(here .. "demo_runs.lua")

local opts = core.options()
local dir = opts.local_dir or os.getenv("RW_DEMO_DIR") or "/tmp/rw-demo"

local specs = demo.write(dir)
print(string.format("wrote %d demo runs under %s/wandb:", #specs, dir))
for _, s in ipairs(specs) do
  print(string.format("  %-9s %-18s %4d steps  %s", s.id, s.name, s.steps,
    s.running and "no exit record (in progress)" or s.exit == nil and "no exit record (killed)" or ("exit " .. s.exit)))
end

if opts.mode == "run" then
  local steps = tonumber(os.getenv("RW_DEMO_STEPS") or "") or 240
  local rate = tonumber(os.getenv("RW_DEMO_RATE") or "") or 4
  local live = demo.live(dir)
  print(string.format("live run %s: %d rows at %g rows/s into %s", live.id, steps, rate, live.file))
  local n = 0
  local s
  s = every(1 / rate, function()
    n = n + 1
    local row = live.step()
    if n % rate == 0 then print(string.format("  live %s step %d loss %.4f", live.id, n - 1, row.loss)) end
    if n >= steps then
      live.finish(0)
      print("live run " .. live.id .. " finished")
      s:stop()
    end
  end, {immediate = true})
end
