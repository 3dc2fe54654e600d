-- Stalled-run detector: a running run whose steps stop advancing for longer than 5 times its own
-- step cadence (at least 10 minutes) is reported, with whether its process still sends
-- heartbeats ("silent": hung in a collective, a deadlock, a stuck data loader) or not ("dead").
-- Recovery is reported too. Needs no change to the training code.
-- Usage: RW_PROJECT=entity/project SLACK_WEBHOOK_URL=... runwatch run stalled_runs.lua
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local slack = os.getenv("SLACK_WEBHOOK_URL")

local function say(text)
  if slack then actions.slack(slack, text) else log.warn(text) end
end

watch{
  project = project, every = "1m", id = "stalled-runs",
  stale = {factor = 5, floor = "10m", heartbeat = "5m"},
  on_stale = function(run, info)
    say(string.format(":warning: %s is %s: no new step for %d min (step %s; usual cadence %.0f s) %s",
      run.name or run.id, info.kind == "silent" and "stalled (heartbeat alive)" or "dead (no heartbeat)",
      math.floor(info.silence / 60), tostring(info.last_step), info.cadence or 0, run.url))
    actions.tag(run, "stalled")
  end,
  on_recover = function(run, info)
    say(string.format(":white_check_mark: %s is logging again after %d min", run.name or run.id,
      math.floor(info.silence / 60)))
    actions.untag(run, "stalled")
  end,
}
