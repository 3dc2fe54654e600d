-- Leaderboard: every hour, rank the finished runs of a project by a summary metric and write
-- the top 5 into the summary of the best run (summary.leaderboard), key-level, so nothing else
-- in that summary changes. Runs once and exits with `runwatch once`.
-- Usage: RW_PROJECT=entity/project RW_METRIC=val_acc runwatch run leaderboard.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local metric = os.getenv("RW_METRIC") or "val_acc"

every("1h", function()
  local top = {}
  for _, run in ipairs(api.runs(project, {state = "finished", ["summary." .. metric] = {["$exists"] = true}},
                                {order = "-summary." .. metric, per_page = 5})) do
    local v = run.summary[metric]
    if type(v) == "number" and v == v then
      top[#top + 1] = {run = run, id = run.id, name = run.name, [metric] = v}
    end
    if #top == 5 then break end
  end
  if #top == 0 then log.info("no finished runs with " .. metric) return end
  local board = {}
  for i, e in ipairs(top) do board[i] = {rank = i, id = e.id, name = e.name, [metric] = e[metric]} end
  top[1].run:set_summary{leaderboard = board}
  log.info("leaderboard refreshed", {best = top[1].run.path, [metric] = top[1][metric]})
  api.flush()
end, {immediate = true})
