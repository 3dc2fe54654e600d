-- Evaluate the newest version of a model and write the score into the summary of the run that
-- logged it (summary["eval/<model>"] and summary["eval/<model>_version"]). The version is
-- downloaded with every file checked against its MD5 (a second run reuses the files); the
-- evaluation is RW_EVAL_CMD run on that directory (it prints one number). Without RW_EVAL_CMD
-- the score is the version's own metadata value RW_METRIC (default val_acc): replace evaluate()
-- with your evaluation. A version already evaluated is skipped.
-- Usage: RW_PROJECT=entity/project RW_MODEL=resnet [RW_EVAL_CMD="python eval.py"] runwatch once evaluate_newest_model.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local model = os.getenv("RW_MODEL") or "resnet"
local metric = os.getenv("RW_METRIC") or "val_acc"

local newest = api.artifact(project .. "/" .. model .. ":latest", {type = "model"})
local run = newest:logged_by()
if not run then
  log.info("the newest version was not logged by a run: nowhere to write the score", {version = newest.name})
  return
end
if run.summary["eval/" .. model .. "_version"] == newest.version then
  log.info("already evaluated", {version = newest.version, run = run.path})
  return
end

local function evaluate(dir)
  local cmd = os.getenv("RW_EVAL_CMD")
  if not cmd then return newest.metadata[metric] end
  local p = assert(io.popen(cmd .. " '" .. dir:gsub("'", "'\\''") .. "'"))
  local score = p:read("n")
  p:close()
  return score
end

local dir, stats = newest:download((os.getenv("TMPDIR") or "/tmp") .. "/runwatch-eval/" .. newest.source_name:gsub(":", "-"))
local score = evaluate(dir)
if type(score) ~= "number" then error("the evaluation gave no number for " .. newest.name) end
run:set_summary{["eval/" .. model] = score, ["eval/" .. model .. "_version"] = newest.version}
log.info("evaluated", {version = newest.name, run = run.path, score = score, downloaded = stats.downloaded,
  reused = stats.skipped})
