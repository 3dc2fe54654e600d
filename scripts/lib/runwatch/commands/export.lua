-- `runwatch export [ENTITY/PROJECT] [options]` (options declared in cli/spec.lua): the command
-- line over export.project (streamed CSV, JSON Lines or JSON of a project's runs, or of their
-- history with --history).
local json = require "runwatch.json"
local task = require "runwatch.task"
local export = require "runwatch.export"

local M = {}

-- default_project() -> the project api.runs() uses without a path (WANDB_PROJECT, the settings
-- files, --local's directory), or nil
function M.default_project()
  local ok, settings = pcall(function() return require("runwatch.api").default().settings end)
  local p = ok and type(settings) == "table" and settings.project
  return (type(p) == "string" and p ~= "") and p or nil
end

-- check(options, path) -> options completed (path, filters decoded, format), or nil, message.
-- The parser (cli/parse.lua, over cli/spec.lua) already checked names, values and types.
function M.check(o, path)
  o.path = path
  if (not o.path or o.path == "") and not M.default_project() then return nil, "no project given (ENTITY/PROJECT, or set WANDB_PROJECT)" end
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
  if o.columns and not o.columns:find("[^,%s]") then return nil, "bad --columns (empty list)" end
  if o.history and not o.history:find("[^,%s]") then return nil, "bad --history (no keys)" end
  return o
end

local function strip_where(msg)
  msg = tostring(msg)
  return (msg:gsub("^[^\n:]*%.lua:%d+: ", ""))
end

-- main(options, args) -> exit status (0 done, 1 the export failed, 2 usage)
function M.main(o, args)
  local err
  o, err = M.check(o, args[1])
  if not o then return require("runwatch.cli.parse").usage_error("export", err) end
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
