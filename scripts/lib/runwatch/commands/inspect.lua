-- `runwatch inspect PATH... [--json]` (options declared in cli/spec.lua): what a .wandb file, a run directory or a wandb/ directory holds (record counts by type, history rows and steps, keys, exit, errors with offsets, completeness, state).
local core = require "runwatch.core"
local json = require "runwatch.json"
local wandbfile = require "runwatch.wandbfile"
local fswatch = require "runwatch.fswatch"
local progress = require "runwatch.progress"

local M = {}

local function out(s) core.write(s .. "\n") end
local function err(s) io.stderr:write(s .. "\n") end

local function duration(secs)
  secs = math.floor(secs or 0)
  if secs < 60 then return secs .. "s" end
  if secs < 3600 then return string.format("%dm%02ds", secs // 60, secs % 60) end
  return string.format("%dh%02dm%02ds", secs // 3600, secs % 3600 // 60, secs % 60)
end

local function iso(t) return t and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) or "?" end

-- The .wandb files under a path, with the run's state from the local backend.
local function collect(path, show_progress)
  local st, e = fswatch.stat(path)
  if not st then return nil, e end
  local backend = require("runwatch.local.backend").new(path, {progress = show_progress})
  local ok, ids = pcall(backend.ids, backend, true)
  if not ok then return nil, tostring(ids) end
  local files = {}
  for _, id in ipairs(ids) do
    local info = backend:info(id)
    for _, f in ipairs(info.files) do files[#files + 1] = {path = f, info = info} end
  end
  if #files == 0 then return nil, path .. ": no .wandb file found (a run directory, a wandb/ directory or a .wandb file expected)" end
  return files
end

local function sorted_counts(counts)
  local list = {}
  for k, v in pairs(counts or {}) do list[#list + 1] = {k, v} end
  table.sort(list, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
  local parts = {}
  for _, kv in ipairs(list) do parts[#parts + 1] = kv[1] .. " " .. kv[2] end
  return table.concat(parts, ", ")
end

local function report(s, info)
  out(s.path)
  local r = s.run
  if r then
    local parts = {"  run        " .. (r.run_id or "?")}
    if r.display_name then parts[#parts + 1] = string.format("%q", r.display_name) end
    if r.entity then parts[#parts + 1] = "entity " .. r.entity end
    if r.project then parts[#parts + 1] = "project " .. r.project end
    if r.host then parts[#parts + 1] = "host " .. r.host end
    if r.start_time then parts[#parts + 1] = "started " .. iso(r.start_time) end
    out(table.concat(parts, "  "))
  else
    out("  run        (no run record)")
  end
  if s.producer then out("  writer     " .. s.producer) end
  out(string.format("  size       %d bytes, %d read, %s block alignment", s.size, s.bytes_read, s.alignment or "standard"))
  out(string.format("  records    %d%s%s", s.records, s.records > 0 and ": " or "", sorted_counts(s.counts)))
  local c = s.chunks or {}
  out(string.format("  chunks     %d full, %d first, %d middle, %d last; %d pads (%d bytes)",
    c.full or 0, c.first or 0, c.middle or 0, c.last or 0, c.pads or 0, c.pad_bytes or 0))
  if (s.history_rows or 0) > 0 then
    out(string.format("  history    %d rows, steps %d .. %d", s.history_rows, s.first_step or 0, s.last_step or 0))
  else
    out("  history    no rows")
  end
  local keys = s.keys or {}
  local shown = {}
  for i = 1, math.min(#keys, 40) do shown[i] = keys[i] end
  out(string.format("  keys       %d%s%s%s", #keys, #keys > 0 and ": " or "", table.concat(shown, " "),
    #keys > 40 and string.format(" ... (%d more)", #keys - 40) or ""))
  if s.has_exit then
    out(string.format("  exit       code %d, runtime %d s (%s)", s.exit_code or 0, s.runtime or 0, duration(s.runtime)))
  else
    out("  exit       none (no exit record)")
  end
  if (s.error_count or 0) == 0 then
    out("  errors     none")
  else
    out(string.format("  errors     %d (%d bytes skipped)%s", s.error_count, s.bytes_skipped or 0, s.fatal and ", fatal" or ""))
    for i, e in ipairs(s.errors or {}) do
      if i > 20 then out(string.format("    ... and %d more", s.error_count - 20)) break end
      out(string.format("    at byte %d: %s", e.offset or 0, e.message))
    end
  end
  if s.tail then
    out(string.format("  tail       %d bytes of an unfinished record at byte %d (still being written, or cut off)",
      s.tail.bytes, s.tail.offset))
  end
  out("  complete   " .. (s.complete and "yes" or "no"))
  if info then
    local how = {exit = "from the exit record", pid = "writer process " .. tostring(info.pid) ..
      (info.state == "running" and " is alive" or " is gone"), mtime = "from the files' last change " ..
      (info.heartbeat and iso(info.heartbeat) or "?")}
    out(string.format("  state      %s (%s)", info.state, how[info.liveness] or info.liveness))
    if (info.dropped_rows or 0) > 0 then out(string.format("  note       %d history rows repeat an earlier step and are skipped", info.dropped_rows)) end
  end
end

local function as_json(s, info)
  local o = {}
  for k, v in pairs(s) do o[k] = v end
  o.errors = json.array(s.errors or {})
  o.keys = json.array(s.keys or {})
  if info then
    o.state, o.liveness, o.writer_pid = info.state, info.liveness, info.pid
    o.run_id = info.id
  end
  return o
end

-- main(options, paths) -> exit status (options: cli/spec.lua)
function M.main(o, paths)
  local want_json = o.json == true
  local status = 0
  local results = {}
  local first = true
  for _, p in ipairs(paths) do
    local files, e = collect(p, o.progress)
    -- reading every file of a large tree takes a while: a bar on a terminal (stdout is data)
    local on, forced = progress.wanted(o.progress, true)
    local bar = files and progress.new{enabled = on, unit = "files", total = #files, delay = not forced and 0.5 or 0}
    if not files then
      err("runwatch inspect: " .. tostring(e))
      status = 1
      if want_json then results[#results + 1] = {path = p, error = tostring(e)} end
    else
      for i, f in ipairs(files) do
        if bar then bar.done = i - 1; bar:draw() end
        local s, ie = wandbfile.inspect(f.path)
        if not s then
          err("runwatch inspect: " .. tostring(ie))
          status = 1
          -- what cannot be read is an object carrying the error, not a silent gap
          if want_json then results[#results + 1] = {path = f.path, error = tostring(ie), run_id = f.info.id} end
        else
          if (s.error_count or 0) > 0 or s.fatal then status = 1 end
          if want_json then results[#results + 1] = as_json(s, f.info)
          else
            if not first then out("") end
            first = false
            report(s, f.info)
          end
        end
      end
      if bar then bar.done = #files; bar:finish() end
    end
  end
  if want_json then out(json.encode(json.array(results), {indent = 2, sort_keys = true})) end
  return status
end

return M
