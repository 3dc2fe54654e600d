-- Move the `production` alias to the version of a model whose producing run has the best summary
-- metric (RW_METRIC, default acc; RW_GOAL=min to minimise). W&B moves the alias from the version
-- that held it. Preview with --dry-run (the plan says where `production` is now).
-- Usage: RW_PROJECT=entity/project RW_MODEL=resnet RW_METRIC=val_acc runwatch once promote_best_model.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local model = os.getenv("RW_MODEL") or "resnet"
local metric = os.getenv("RW_METRIC") or "acc"
local minimise = os.getenv("RW_GOAL") == "min"

local best, best_value
for _, v in ipairs(api.artifacts(project, "model", model)) do
  local run = v:logged_by()
  local x = run and run.summary[metric]
  if type(x) == "number" and x == x then
    if best == nil or (minimise and x < best_value) or (not minimise and x > best_value) then best, best_value = v, x end
  end
end
if not best then
  log.info("no version with a producing run that has the metric", {model = model, metric = metric})
  return
end
for _, a in ipairs(best.aliases) do
  if a == "production" then
    log.info("production is already on the best version", {version = best.name, [metric] = best_value})
    return
  end
end
best:add_aliases("production")
log.info("production moved", {version = best.name, [metric] = best_value})
