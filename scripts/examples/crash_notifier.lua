-- Crashed-run notifier: tell a Slack channel when a run crashes, fails or is killed, with the
-- run's last step and loss. Exactly once per run, across restarts of the daemon.
-- Usage: RW_PROJECT=entity/project SLACK_WEBHOOK_URL=https://hooks.slack.com/... runwatch run crash_notifier.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local slack = os.getenv("SLACK_WEBHOOK_URL") or error("set SLACK_WEBHOOK_URL")

local w = watch{project = project, every = "1m", id = "crash-notifier", stale = false}

rule{
  name = "run-died", watch = w, severity = "critical", resolve = false,
  when = function(run)
    local s = run.state
    return s == "crashed" or s == "failed" or s == "killed", s
  end,
  notify = {{slack = slack,
    text = ":rotating_light: {{run.name}} {{alert.value}} at step {{run.summary._step}} " ..
           "(loss {{run.summary.loss}}) {{run.url}}"}},
}
