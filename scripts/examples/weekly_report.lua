-- Weekly report: every Monday at 9:00, the best runs of the last 7 days of a project to a
-- self-contained HTML file (table + loss curves) and a short Slack message.
-- Usage: RW_PROJECT=entity/project [RW_METRIC=loss] [RW_GOAL=min|max] [RW_REPORT=weekly.html]
--        [SLACK_WEBHOOK_URL=https://hooks.slack.com/...] runwatch run weekly_report.lua
-- (`runwatch once weekly_report.lua` writes this week's report now and exits.)
local project = os.getenv("RW_PROJECT") or "my-team/my-project"
local metric = os.getenv("RW_METRIC") or "loss"
local goal = os.getenv("RW_GOAL") or "min"           -- min: lower is better (a loss)
local out = os.getenv("RW_REPORT") or "weekly-report.html"
local TOP, CURVES = 10, 5

local function fmt(v)
  if type(v) ~= "number" then return tostring(v) end
  return math.type(v) == "integer" and tostring(v) or string.format("%.4g", v)
end

-- Slack reads <...> as links and &...; as entities: names are escaped
local function slack_escape(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end

cron("0 9 * * MON", function()
  local now = os.time()
  local since = os.date("!%Y-%m-%dT%H:%M:%S", now - 7 * 86400)   -- W&B times are UTC
  local runs = api.runs(project, {created_at = {["$gt"] = since}, ["summary." .. metric] = {["$exists"] = true}},
    {order = (goal == "min" and "+" or "-") .. "summary." .. metric, per_page = 2 * TOP})
  local total = #runs
  local top = {}
  for _, run in ipairs(runs) do
    local v = run.summary[metric]
    if type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge then top[#top + 1] = run end
    if #top == TOP then break end
  end
  local curves = {}
  for i = 1, math.min(CURVES, #top) do curves[i] = top[i] end

  local title = string.format("%s: week to %s", project, os.date("!%Y-%m-%d", now))
  local path, err = report.html{title = title, path = out, sections = {
    {type = "text", text = string.format("%d runs created since %s UTC; the best %d by %s (%s is better).",
      total, since, #top, metric, goal == "min" and "lower" or "higher")},
    {type = "table", title = "Best runs", rows = top,
      columns = {"id", "name", "state", "created_at", "summary." .. metric, "config.lr", "config.batch_size"}},
    {type = "chart", title = metric .. " over steps, best " .. #curves, runs = curves, x = "_step", y = {metric}, samples = 500},
  }}
  if not path then log.error("report not written", {err = err}) else log.info("report written", {path = path, runs = #top}) end

  local slack = os.getenv("SLACK_WEBHOOK_URL")
  if not slack or slack == "" then
    log.info("SLACK_WEBHOOK_URL is not set: no Slack message")
    return
  end
  local lines = {string.format("*%s*: %d runs this week; best by %s:", slack_escape(project), total, slack_escape(metric))}
  for i = 1, math.min(5, #top) do
    local r = top[i]
    lines[#lines + 1] = string.format("%d. <%s|%s> %s = %s", i, r.url, slack_escape(r.name or r.id), metric, fmt(r.summary[metric]))
  end
  if #top == 0 then lines[#lines + 1] = "(no run logged " .. metric .. ")" end
  if path then lines[#lines + 1] = "Full report: " .. path end
  local res, perr = http.post(slack, {text = table.concat(lines, "\n")})
  if not res then log.warn("Slack message not sent", {err = perr})
  elseif res.status ~= 200 then log.warn("Slack answered " .. res.status, {body = res.body:sub(1, 200)})
  else log.info("Slack message sent") end
end, {cpu_budget = "60s"})
