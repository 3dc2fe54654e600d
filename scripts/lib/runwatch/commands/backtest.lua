-- `runwatch backtest SCRIPT --project ENTITY/PROJECT [...]`: replays the exact history of a
-- project's runs (finished ones too) through a script's rules with the rule engine a watch uses,
-- performing nothing (no notification, no write; a throwaway state file), and reports per rule
-- what would have fired: runs evaluated and fired, first firing (step, time, value), delay from
-- the first offending value, runs that fired yet finished (likely false positives); --json,
-- --html (report.lua: the metric and the firings per fired run). Histories are read in batched
-- exact requests (100 runs and 1,000 steps each, within the host's request budget).
local core = require "runwatch.core"
local json = require "runwatch.json"
local progress_mod = require "runwatch.progress"
local task = require "runwatch.task"
local state = require "runwatch.state"
local duration = require "runwatch.duration"
local filters_mod = require "runwatch.filters"
local fields = require "runwatch.fields"
local schedule = require "runwatch.schedule"
local windows = require "runwatch.windows"
local cohorts = require "runwatch.cohorts"
local api_mod = require "runwatch.api"
local watch_mod = require "runwatch.watch"
local rules_mod = require "runwatch.rules"
local report = require "runwatch.report"
local prelude = require "runwatch.prelude"

local M = {}


local function err(msg) io.stderr:write(core.redact("runwatch backtest: " .. msg .. "\n")) end
local function null(v) if v == json.null then return nil end return v end

-- options(o, args) -> the options (cli/spec.lua's backtest row, parsed) with the script and
-- --since in seconds, or nil, message
function M.options(o, args)
  o.script = args[1]
  if o.since then
    local ok, secs = pcall(duration.parse, o.since, "--since", 1)
    if not ok then return nil, (tostring(secs):gsub("^[^:]*:%d+: ", "")) end
    o.since_secs = secs
  end
  return o
end

-- {====== progress on stderr

local function progress(enabled)
  local bar = progress_mod.new{enabled = progress_mod.wanted(enabled)}
  return function(text, final) if bar then bar:note(text, final) end end
end

-- }======

-- {====== reading: the runs, then their exact histories

local function list_runs(api, o)
  local f = {}
  if o.filters then
    local v, jerr = json.decode(o.filters)
    if type(v) ~= "table" then return nil, "bad --filters: " .. (jerr or "a JSON object expected") end
    f = v
  end
  if o.since_secs then
    local since = os.date("!%Y-%m-%dT%H:%M:%S", math.floor(core.time() - o.since_secs))
    f = next(f) and {["$and"] = json.array({f, {createdAt = {["$gte"] = since}}})} or {createdAt = {["$gte"] = since}}
  end
  local ok, list = pcall(function()
    local out = {}
    for _, r in ipairs(api.runs(o.project, next(f) and f or nil, {order = "+created_at", per_page = o.per_page or 1000,
      keep = false})) do
      out[#out + 1] = r
    end
    return out
  end)
  if not ok then
    local m = tostring(list):gsub("^[^:]*:%d+: ", "")
    if o.filters and not m:find("Could not find project", 1, true) then m = "bad --filters: " .. m end
    return nil, m
  end
  return list
end

-- read every run's rows (exact, step order): windows.read per project (batched, windows sized by
-- each run's density). keep(row) trims a row (nil: all keys)
local function read_histories(api, runs, keep, show)
  local be = rawget(api, "_").backend
  local by_project, out, nrows, nreq, done = {}, {}, 0, 0, 0
  for _, r in ipairs(runs) do
    local attrs = rawget(r, "_").attrs
    local last = fields.last_step(attrs)
    local key = r.entity .. "/" .. r.project
    by_project[key] = by_project[key] or {entity = r.entity, project = r.project, list = {}}
    local l = by_project[key].list
    l[#l + 1] = {id = r.id, from = 0, last = last, lines = math.tointeger(null(attrs.history_line_count))}
  end
  for _, p in pairs(by_project) do
    local got, n = windows.read(be, p.entity, p.project, p.list, {samples = watch_mod.defaults.max_rows,
      batch = watch_mod.defaults.batch}, function(k)
        show(string.format("backtest: reading history of %d runs, %d requests", #runs, nreq + k))
      end)
    nreq = nreq + n
    for id, rows in pairs(got) do
      local t = {}
      for i, row in ipairs(rows) do t[i] = keep and keep(row) or row end
      out[id] = t
      nrows = nrows + #rows
      done = done + 1
    end
  end
  for _, r in ipairs(runs) do out[r.id] = out[r.id] or {} end
  show(string.format("backtest: read %d runs, %d rows in %d requests", #runs, nrows, nreq), true)
  return out, nrows, nreq
end

-- }======

-- {====== replay

local function iso(t) return t and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) or nil end

local function last_time(run, rows)
  for i = #rows, 1, -1 do
    local ts = tonumber(rows[i]._timestamp)
    if ts then return ts end
  end
  return state.parse_time and state.parse_time(run.heartbeat_at) or core.time()
end

-- replay(rule_list, runs, histories) -> per rule {name, evaluated = {}, events = {run = {...}}}
local function replay(rule_list, runs, hist)
  local out = {}
  for _, r in ipairs(rule_list) do out[r.name] = {rule = r, events = {}, evaluated = 0} end
  -- transitions are recorded instead of notified, for the replay only
  local _ <close> = setmetatable({}, {__close = function() rules_mod.observer = nil end})
  rules_mod.observer = function(rule, a, transition, run, point)
    local ev = out[rule.name].events
    ev[run.path] = ev[run.path] or {}
    local list = ev[run.path]
    list[#list + 1] = {transition = transition, value = a.value, step = point and point.step, time = point and point.time,
      since = a.since, since_step = a.since_step, episode = a.episode}
  end
  -- cohorts: every run's whole series, members by their cohort
  for _, r in ipairs(rule_list) do
    r.trackers.backtest = {}
    for _, e in ipairs(r.cohort_exprs) do
      local tr = cohorts.new(e, {})
      for _, run in ipairs(runs) do
        local ok, key = pcall(cohorts.cohort_key, run, e.by)
        local rows = hist[run.id]
        tr:set(run.id, rows, {key = ok and key or nil, state = run.state, ended_at = last_time(run, rows)})
      end
      r.trackers.backtest[e] = tr
    end
    for _, b in pairs(r.baselines) do b:prepare(nil, watch_mod.defaults.max_rows) end
  end
  for _, run in ipairs(runs) do
    local rows = hist[run.id]
    local last_step = rows[#rows] and math.tointeger(rows[#rows]._step) or nil
    local t_end = last_time(run, rows)
    local path = run.path
    for _, r in ipairs(rule_list) do
      out[r.name].evaluated = out[r.name].evaluated + 1
      state.transaction(function()
        local _ <close> = task.with_context({defer = true, run = path, tick = "backtest"})
        if r.cond then
          r:evaluate(run, {now = t_end, rows = rows, cursor = {}, first = true, from_step = 0, eval_from = 0,
            last_step = last_step, needs = r.cond:needs({})})
        else
          -- a function rule: one tick per row (ctx.rows = that row), then one with no rows
          for _, row in ipairs(rows) do
            local ts = tonumber(row._timestamp) or t_end
            r.point = {step = math.tointeger(row._step), time = ts}
            r:evaluate(run, {now = ts, rows = {row}, changed = {}, first = false})
          end
          r.point = {step = last_step, time = t_end}
          r:evaluate(run, {now = t_end, rows = {}, changed = {}, first = false})
        end
      end)
    end
  end
  return out
end

-- }======

-- {====== the report

local function value_at(rows, key, step)
  for i = #rows, 1, -1 do
    local st = math.tointeger(rows[i]._step)
    if st and step and st <= step then
      local v = windows.number_of(rows[i], key)
      if v ~= nil then return v end
    end
  end
  return nil
end

local function summarize(res, runs, hist)
  local by_path = {}
  for _, run in ipairs(runs) do by_path[run.path] = run end
  local doc = json.array({})
  local names = {}
  for name in pairs(res) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local x = res[name]
    local r = x.rule
    local fired = json.array({})
    local fp = json.array({})
    local firings, resolved = 0, 0
    local paths = {}
    for p in pairs(x.events) do paths[#paths + 1] = p end
    table.sort(paths, function(a, b) return (by_path[a].created_at or "") < (by_path[b].created_at or "") or
      ((by_path[a].created_at or "") == (by_path[b].created_at or "") and a < b) end)
    for _, p in ipairs(paths) do
      local first
      local evs = json.array({})
      for _, e in ipairs(x.events[p]) do
        if e.transition == "firing" then firings = firings + 1; first = first or e end
        if e.transition == "resolved" then resolved = resolved + 1 end
        evs[#evs + 1] = {transition = e.transition, step = e.step, time = iso(e.time), value = e.value}
      end
      if first then
        local run = by_path[p]
        fired[#fired + 1] = {run = p, name = run.name, state = run.state, step = first.step, time = iso(first.time),
          value = first.value, delay = first.time and first.since and (first.time - first.since) or json.null,
          since_step = first.since_step, firings = #evs, events = evs}
        if run.state == "finished" then fp[#fp + 1] = p end
      end
    end
    local missing = {}
    for k in pairs(r.keys) do if not r.seen[k] then missing[#missing + 1] = k end end
    table.sort(missing)
    doc[#doc + 1] = {rule = name, condition = r.cond and r.cond:describe() or "function",
      evaluated = x.evaluated, fired = #fired, firings = firings, resolved = resolved, runs = fired,
      finished_but_fired = fp, never_logged = json.array(missing)}
  end
  return doc
end

local function show(v)
  if v == nil or v == json.null then return "-" end
  if type(v) == "number" then
    if v ~= v then return "NaN" end
    if v == math.huge then return "Infinity" elseif v == -math.huge then return "-Infinity" end
    if math.type(v) == "integer" then return tostring(v) end
    return string.format("%.6g", v)
  end
  return tostring(v)
end

local function text_report(doc, o, nruns)
  local out = {string.format("backtest of %s on %s: %d runs%s\n", o.script, o.project, nruns,
    o.since and (" created in the last " .. o.since) or "")}
  for _, r in ipairs(doc) do
    out[#out + 1] = string.format("\nrule %s (%s)\n  runs evaluated %d, fired %d (%d firings, %d resolved)\n",
      r.rule, r.condition, r.evaluated, r.fired, r.firings, r.resolved)
    if #r.never_logged > 0 then
      out[#out + 1] = "  no run logged: " .. table.concat(r.never_logged, ", ") .. "\n"
    end
    for _, f in ipairs(r.runs) do
      out[#out + 1] = string.format("  %-40s first firing at step %s, %s, value %s, %s after the first offending value%s\n",
        f.run, show(f.step), show(f.time), show(f.value), f.delay ~= json.null and string.format("%.0f s", f.delay) or "-",
        f.state == "finished" and "  (finished: a false positive?)" or "")
    end
    if #r.finished_but_fired > 0 then
      out[#out + 1] = string.format("  %d fired but finished successfully (likely false positives)\n", #r.finished_but_fired)
    end
  end
  return table.concat(out)
end

local function html_report(doc, o, runs, hist, path)
  local by_path = {}
  for _, run in ipairs(runs) do by_path[run.path] = run end
  local sections = {{type = "text", text = string.format("%s on %s: %d runs replayed.", o.script, o.project, #runs)}}
  for _, r in ipairs(doc) do
    local rows = {}
    for _, f in ipairs(r.runs) do
      rows[#rows + 1] = {run = f.run, state = f.state, ["first firing step"] = f.step, time = f.time, value = f.value,
        ["delay (s)"] = f.delay, firings = f.firings}
    end
    sections[#sections + 1] = {type = "text", text = string.format("Rule %s (%s): %d of %d runs fired, %d firings; " ..
      "%d fired but finished.", r.rule, r.condition, r.fired, r.evaluated, r.firings, #r.finished_but_fired)}
    if #rows > 0 then
      sections[#sections + 1] = {type = "table", title = "rule " .. r.rule, rows = rows,
        columns = {"run", "state", "first firing step", "time", "value", "delay (s)", "firings"}}
    end
    local key = next(rules_mod.rules[r.rule].keys)
    for i, f in ipairs(r.runs) do
      if i > 20 or not key then break end
      local h = hist[by_path[f.run].id]
      local fire, res = {}, {}
      for _, e in ipairs(f.events) do
        local v = value_at(h, key, e.step)
        if v and e.step then
          local list = e.transition == "resolved" and res or fire
          list[#list + 1] = {e.step, v}
        end
      end
      local curve = {}
      for _, row in ipairs(h) do
        local st, v = math.tointeger(row._step), windows.number_of(row, key)
        if st and v then curve[#curve + 1] = {st, v} end
      end
      sections[#sections + 1] = {type = "chart", title = r.rule .. ": " .. key .. " of " .. f.run, x = "_step", y = key,
        series = {{name = key, points = curve}, {name = "firing", points = fire, markers = true},
          {name = "resolved", points = res, markers = true}}}
    end
  end
  return report.html{title = "backtest: " .. o.script .. " on " .. o.project, path = path, sections = sections}
end

-- }======

-- main(options, args) -> exit status (options and args: cli/spec.lua's backtest row, parsed)
function M.main(opts, args)
  local o, perr = M.options(opts, args)
  if not o then return require("runwatch.cli.parse").usage_error("backtest", perr) end
  local tmp = os.tmpname()
  local function cleanup()
    state.close()
    for _, suffix in ipairs({"", "-wal", "-shm", ".lock"}) do os.remove(tmp .. suffix) end
  end
  local ok, status = pcall(function()
    state.open(tmp)
    -- the script's top level makes its watches and rules; nothing it schedules ever runs
    local lok, lerr = prelude.load_script(o.script)
    for _, s in ipairs(schedule.all) do s:stop() end
    for _, w in ipairs(watch_mod.watches) do w:stop() end
    if not lok then err(lerr) return 2 end
    local rule_list = {}
    for _, r in pairs(rules_mod.rules) do rule_list[#rule_list + 1] = r end
    table.sort(rule_list, function(a, b) return a.name < b.name end)
    if #rule_list == 0 then err(o.script .. " defines no rule") return 1 end
    local show_progress = progress(o.progress)
    local api = api_mod.default()
    show_progress("backtest: listing the runs of " .. o.project)
    local runs, lerr2 = list_runs(api, o)
    if not runs then err(lerr2) return 1 end
    if #runs == 0 then
      err("no runs in " .. o.project .. " match" .. (o.filters and (" --filters " .. o.filters) or "") ..
        (o.since and (" created in the last " .. o.since) or ""))
      return 1
    end
    -- rows keep only what the rules read when every rule is declarative
    local keep_keys = {_step = true, _timestamp = true, _runtime = true}
    local all_declarative = true
    for _, r in ipairs(rule_list) do
      if r.cond then
        for name in pairs(r.cond:needs({})) do
          local key, at = name:match("^(.-)%z(.*)$")
          keep_keys[key or name] = true
          if at then keep_keys[at] = true end
        end
      else all_declarative = false end
    end
    local keep = all_declarative and function(row)
      local t = {}
      for k, v in pairs(row) do if keep_keys[k] then t[k] = v end end
      for k in pairs(keep_keys) do if t[k] == nil and k:find(".", 1, true) then t[k] = windows.value_of(row, k) end end
      return t
    end or nil
    local hist = read_histories(api, runs, keep, show_progress)
    local res = replay(rule_list, runs, hist)
    local doc = summarize(res, runs, hist)
    if o.html then
      local p, herr = html_report(doc, o, runs, hist, o.html)
      if not p then err("cannot write " .. o.html .. ": " .. tostring(herr)) return 1 end
    end
    if o.json then
      core.write(json.encode(require("runwatch.effect_kinds").strict({script = o.script, project = o.project,
        since = o.since, filters = o.filters, runs = #runs, rules = doc}), {sort_keys = true, indent = 2}) .. "\n")
    else
      core.write(text_report(doc, o, #runs))
    end
    return 0
  end)
  cleanup()
  if not ok then
    err((tostring(status):gsub("^[^:]*:%d+: ", "")))
    return 1
  end
  return status
end

return M
