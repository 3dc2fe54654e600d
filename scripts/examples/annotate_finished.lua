-- Annotate finished runs with a derived metric: the generalization gap (val_loss - loss) from
-- the last history row, written as summary.gen_gap. Only that key is written; every other
-- summary key stays exactly as it was. Runs already annotated are skipped.
-- Usage: RW_PROJECT=entity/project runwatch once annotate_finished.lua   (add --dry-run to preview)
local project = os.getenv("RW_PROJECT") or "my-team/my-project"

local done, skipped = 0, 0
for _, run in ipairs(api.runs(project, {state = "finished", ["summary.gen_gap"] = {["$exists"] = false}})) do
  local last_val, last_train
  for row in run:scan_history{keys = {"loss", "val_loss"}} do
    last_val, last_train = row.val_loss, row.loss
  end
  if type(last_val) == "number" and type(last_train) == "number" then
    run:set_summary{gen_gap = last_val - last_train}
    done = done + 1
  else
    skipped = skipped + 1
  end
end
log.info("annotated finished runs", {project = project, annotated = done, skipped = skipped})
