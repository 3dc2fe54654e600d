-- Tag the best run of each group: for every group in a project, the finished run with the
-- lowest summary metric gets the tag "best-in-group"; runs that lost the title lose the tag.
-- Usage: RW_PROJECT=entity/project RW_METRIC=val_loss runwatch once tag_best_per_group.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local metric = os.getenv("RW_METRIC") or "loss"
local TAG = "best-in-group"

local best = {}     -- group -> run
local tagged = {}   -- runs that carry the tag now
for _, run in ipairs(api.runs(project, {state = "finished", group = {["$exists"] = true}},
                              {order = "+summary." .. metric, per_page = 200})) do
  local v = run.summary[metric]
  if run.group and type(v) == "number" and v == v and not best[run.group] then best[run.group] = run end
  for _, t in ipairs(run.tags) do if t == TAG then tagged[#tagged + 1] = run end end
end

for group, run in pairs(best) do
  log.info("best of group", {group = group, run = run.path, [metric] = run.summary[metric]})
  run:add_tags(TAG)
end
for _, run in ipairs(tagged) do
  if best[run.group] ~= run then run:remove_tags(TAG) end
end
