-- The soak workload (tests/soak/run.sh starts it against the test server's live simulation):
-- a watch with history, state and stall handlers, a rule that fires on NaN losses and notifies a
-- webhook and tags the run, a listing job with filters and order every 5 s, state writes, and a
-- line of counters every 10 s. Faults make ticks fail; the daemon must go on, and stay flat.
local project = assert(os.getenv("SOAK_PROJECT"), "SOAK_PROJECT not set")
local hook = assert(os.getenv("SOAK_HOOK"), "SOAK_HOOK not set")

local stats = state.get("soak_stats") or {}
for _, k in ipairs({"rows", "states", "stale", "recovered", "new_runs", "lists", "list_errors", "listed"}) do
  stats[k] = stats[k] or 0
end

local w = watch{
  project = project, every = "2s", id = "soak",
  stale = {factor = 5, floor = "20s", heartbeat = "30s"},
  on_new_run = function() stats.new_runs = stats.new_runs + 1 end,
  on_history = function(_, rows) stats.rows = stats.rows + #rows end,
  on_state = function() stats.states = stats.states + 1 end,
  on_stale = function() stats.stale = stats.stale + 1 end,
  on_recover = function() stats.recovered = stats.recovered + 1 end,
}

rule{
  name = "soak-nan", watch = w, severity = "warning",
  when = function(_, ctx)
    for _, row in ipairs(ctx.rows) do
      local loss = row.loss
      if type(loss) == "number" and loss ~= loss then return true, loss end
    end
    return false
  end,
  notify = {
    {webhook = hook, template = {run = "{{run.path}}", value = "{{alert.value}}"}},
    {tag = "soak-nan"},
  },
}

every("5s", function()
  local ok, err = pcall(function()
    local runs = api.runs(project, {["$or"] = {{state = "running"}, {["summary.loss"] = {["$lt"] = 0.5}}}},
      {per_page = 10, order = "-summary.loss"})
    local n = 0
    for _, r in ipairs(runs) do
      n = n + 1
      local _ = r.summary.loss
      if n >= 25 then break end
    end
    stats.listed = stats.listed + n
    api.flush()
  end)
  stats.lists = stats.lists + 1
  if not ok then
    stats.list_errors = stats.list_errors + 1
    log.warn("listing failed", {err = tostring(err)})
  end
  state.set("soak_stats", stats)
end)

every("10s", function()
  stats.lua_kb = math.floor(collectgarbage("count"))   -- the Lua heap, to tell it from C's
  log.info("soak counters", stats)
end)
