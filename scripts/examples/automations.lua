-- W&B Automations' run events as runwatch rules, plus what Automations cannot do: a threshold
-- on an average, a change between two windows, a z-score, a run's state, a NaN, and a run
-- compared with the other runs of its group at the same step; one grouped Slack message per
-- tick (when SLACK_WEBHOOK_URL is set; otherwise each transition is logged).
-- Usage: RW_PROJECT=entity/project SLACK_WEBHOOK_URL=https://hooks.slack.com/... runwatch run automations.lua
-- Try it on past runs first (nothing is sent): runwatch backtest automations.lua --project entity/project
-- On the demo runs: runwatch once --local /tmp/rw-demo scripts/demo/make_runs.lua, then
--                   runwatch backtest --local /tmp/rw-demo scripts/examples/automations.lua --project local/demo
local project = os.getenv("RW_PROJECT") or "local/demo"
local slack = os.getenv("SLACK_WEBHOOK_URL")
local function notify(text)
  if slack then return {{slack = slack, text = text}} end
  return {{log = true}}
end

local w = watch{project = project, every = "30s", id = "automations"}

-- RUN_METRIC_THRESHOLD: "the average of the last 5 values of loss exceeds 2.5"
rule{name = "loss-high", watch = w, when = metric("loss"):avg(5):gt(2.5),
  group = true, cooldown = "1h", max_per_hour = 20,
  notify = notify("{{run.name}}: 5-step average loss {{alert.value}}")}

-- RUN_METRIC_CHANGE: the 10-value average of acc dropped by 5 % against the 10 values before
rule{name = "acc-drop", watch = w,
  when = metric("acc"):avg(10):change{by = 0.05, relative = true, direction = "decrease"},
  group = true, notify = notify("{{run.name}}: acc changed by {{alert.value}}")}

-- RUN_METRIC_ZSCORE: a loss more than 3 standard deviations away from the 50 values before it
rule{name = "loss-spike", watch = w, when = metric("loss"):zscore{window = 50}:abs():gt(3),
  group = true, notify = notify("{{run.name}}: loss z-score {{alert.value}}")}

-- beyond Automations: a run whose loss is 1.5 times the median of its group's other runs at
-- the same step (at least 2 of them)
rule{name = "worst-in-group", watch = w,
  when = metric("loss"):vs_cohort{by = "group", stat = "ratio_to_median", min_peers = 2}:gt(1.5),
  group = true, notify = notify("{{run.name}} ({{run.group}}): loss {{alert.value}} x the group's median")}

-- a NaN or infinite loss, at once
rule{name = "loss-nan", watch = w, severity = "critical", when = metric("loss"):last():is_nan(),
  notify = notify("{{run.name}}: loss is {{alert.value}}")}

-- RUN_STATE: the run crashed or failed
rule{name = "crashed", watch = w, severity = "critical", when = state("crashed", "failed"),
  group = true, notify = notify("{{run.name}} {{alert.value}}")}
