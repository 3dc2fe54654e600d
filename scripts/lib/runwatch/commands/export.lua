-- `runwatch export ENTITY/PROJECT [options]`: the command line over export.project (streamed
-- CSV, JSON Lines or JSON of a project's runs, or of their history with --history).
local json = require "runwatch.json"
local task = require "runwatch.task"
local export = require "runwatch.export"

local M = {}

M.USAGE = [[
usage: runwatch export ENTITY/PROJECT [options]

Writes the project's runs (one row per run), or with --history their metrics (one row per run
and step), streamed in constant memory. Without ENTITY/PROJECT: WANDB_ENTITY and WANDB_PROJECT
(or the settings files, or --local's directory), as api.runs() without a path.

Options:
  --filters JSON      MongoDB-style filter, as api.runs takes it, e.g. '{"state": "finished"}'
  --order KEY         sort key, e.g. -created_at (default), +summary.loss, config.lr
  --columns LIST      comma-separated columns: id,name,state,created_at,config.lr,summary.loss
                      (nested keys dotted). Default: id, name, state, tags, notes,
                      user.username, group, created_at, runtime, sweep_name, then every
                      config.K and summary.K key any exported run has (but summary._wandb)
  --format FORMAT     csv (default), jsonl or json; guessed from the -o file's extension
  --history KEYS      comma-separated metric keys: one row per run and step (columns: the
                      --columns, default id, then _step and the keys)
  -o, --output FILE   write to FILE (default: stdout, or "-")
  --per-page N        runs per request, 1 to 1000 (default 1000)
  --progress          always show the progress bar on stderr (default: when stderr is a terminal;
  --no-progress       RW_PROGRESS=1 or 0 forces it on or off)
  -h, --help          this help
]]

M.SYNOPSIS = "usage: runwatch export ENTITY/PROJECT [--filters JSON] [--order KEY] [--columns LIST]\n" ..
  "         [--format csv|jsonl|json] [--history KEYS] [-o FILE] [--per-page N] [--[no-]progress]\n"

local VALUED = {["--filters"] = "filters", ["--order"] = "order", ["--columns"] = "columns",
  ["--format"] = "format", ["--history"] = "history", ["-o"] = "output", ["--output"] = "output",
  ["--per-page"] = "per_page"}

-- default_project() -> the project api.runs() uses without a path (WANDB_PROJECT, the settings
-- files, --local's directory), or nil
function M.default_project()
  local ok, settings = pcall(function() return require("runwatch.api").default().settings end)
  local p = ok and type(settings) == "table" and settings.project
  return (type(p) == "string" and p ~= "") and p or nil
end

-- parse(args) -> options, or nil, message
function M.parse(args)
  local o = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if name == "-h" or name == "--help" then
      o.help = true
    elseif name == "--progress" then
      o.progress = true
    elseif name == "--no-progress" then
      o.progress = false
    elseif VALUED[name] then
      local v = inline
      if v == nil then
        i = i + 1
        v = args[i]
        if v == nil then return nil, "option " .. name .. " needs a value" end
      end
      if o[VALUED[name]] ~= nil then return nil, "option " .. name .. " given twice" end
      o[VALUED[name]] = v
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option '" .. a .. "'"
    elseif o.path == nil then
      o.path = a
    else
      return nil, "unexpected argument '" .. a .. "' (one ENTITY/PROJECT expected)"
    end
    i = i + 1
  end
  if o.help then return o end
  if (not o.path or o.path == "") and not M.default_project() then return nil, "no project given (ENTITY/PROJECT, or set WANDB_PROJECT)" end
  if o.per_page then
    local n = math.tointeger(tonumber(o.per_page))
    if not n or n < 1 or n > 1000 then return nil, "bad --per-page '" .. o.per_page .. "' (1 to 1000)" end
    o.per_page = n
  end
  if o.filters then
    local f, err = json.decode(o.filters)
    if type(f) ~= "table" or json.is_array(f) then
      return nil, "bad --filters: " .. (err or "a JSON object expected")
    end
    o.filters = f
  end
  if not o.format and o.output then
    local ext = o.output:lower():match("%.([%w]+)$")
    if ext == "jsonl" or ext == "ndjson" then o.format = "jsonl"
    elseif ext == "json" then o.format = "json" end
  end
  o.format = o.format or "csv"
  if not export.FORMATS[o.format] then return nil, "bad --format '" .. o.format .. "' (csv, jsonl or json)" end
  if o.columns and not o.columns:find("[^,%s]") then return nil, "bad --columns (empty list)" end
  if o.history and not o.history:find("[^,%s]") then return nil, "bad --history (no keys)" end
  return o
end

local function strip_where(msg)
  msg = tostring(msg)
  return (msg:gsub("^[^\n:]*%.lua:%d+: ", ""))
end

-- main(args) -> exit status (0 done, 1 the export failed, 2 usage)
function M.main(args)
  args = args or {}
  local o, err = M.parse(args)
  if not o then
    -- the whole usage when nothing was given, else the message and the synopsis
    io.stderr:write("runwatch export: " .. err .. "\n" .. (#args == 0 and ("\n" .. M.USAGE) or M.SYNOPSIS))
    return 2
  end
  if o.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  -- a one-shot command: the export may run Lua for longer than a daemon job's CPU budget
  local res = {}
  local t = task.new(function()
    res.n, res.err = export.project(o.path, {filters = o.filters, order = o.order, columns = o.columns,
      format = o.format, history = o.history, output = o.output, per_page = o.per_page, progress = o.progress})
  end, {quiet = true, budget = math.huge, job = "export"})
  local ok = t:wait()
  if not ok then
    local e = t.errvalue
    local mt = getmetatable(e)
    if mt and mt.__name == "runwatch.CommError" then
      io.stderr:write("runwatch export: " .. tostring(e) .. "\n")
      return 1
    end
    io.stderr:write("runwatch export: " .. strip_where(e or t.err) .. "\n")
    return 2
  end
  if not res.n then
    -- the reader went away (`runwatch export ... | head`): stop without a message, as cat does
    if not (o.output == nil or o.output == "-") or not tostring(res.err):find("Broken pipe", 1, true) then
      io.stderr:write("runwatch export: " .. tostring(res.err) .. "\n")
    end
    return 1
  end
  return 0
end

return M
