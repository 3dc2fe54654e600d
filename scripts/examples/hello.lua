-- A first script: a repeating job, an HTTP-free computation, JSON that keeps integers exact,
-- and a log line per tick. `runwatch once` fires each job once; `runwatch run` keeps ticking.
local ticks = 0

every("2s", function()
  ticks = ticks + 1
  local doc = json.decode('{"run": "a1b2c3d4", "step": 9007199254740993, "loss": 0.30000000000000004}')
  log.info("tick", {n = ticks, step = doc.step, loss = doc.loss})
  print(json.encode(doc, {sort_keys = true}))
end, {immediate = true})
