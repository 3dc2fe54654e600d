-- NaN / divergence detector: when a running run logs a NaN or infinite loss, or its loss jumps
-- far above its recent level, tag it "diverged", note the step in its summary, and send a W&B
-- alert (and a Slack message when SLACK_WEBHOOK_URL is set). Fires once per episode; a run that
-- recovers is resolved and can fire again.
-- Usage: RW_PROJECT=entity/project runwatch run nan_detector.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local slack = os.getenv("SLACK_WEBHOOK_URL")

local w = watch{project = project, every = "30s", id = "nan-detector"}

local recent = {}   -- run id -> recent finite losses (for the divergence test)

rule{
  name = "loss-diverged", watch = w, severity = "critical",
  when = function(run, ctx)
    for _, row in ipairs(ctx.rows) do
      local loss = row.loss
      if type(loss) == "number" then
        if loss ~= loss or loss == math.huge or loss == -math.huge then
          return true, loss
        end
        local r = recent[run.id] or {}
        recent[run.id] = r
        local n, sum = #r, 0
        for _, v in ipairs(r) do sum = sum + v end
        if n >= 20 and loss > 10 * (sum / n) then return true, loss end
        r[#r + 1] = loss
        if #r > 50 then table.remove(r, 1) end
      end
    end
    -- no new rows: keep the current verdict from the summary
    local last = run.summary.loss
    return type(last) == "number" and last ~= last, last
  end,
  notify = {
    {tag = "diverged"},
    {annotate = {diverged_at_step = "{{run.summary._step}}"}},
    {wandb_alert = true, title = "Loss diverged", text = "{{run.name}}: loss = {{alert.value}}"},
    slack and {slack = slack} or {log = true},
  },
}
