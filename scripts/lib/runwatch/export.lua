-- Export runs and rows as CSV, JSON Lines or JSON, streamed: export.csv/jsonl/json for lists,
-- api.runs results and iterators; export.project for a whole project, page by page, in constant
-- memory (the engine behind `runwatch export`). See docs/export.md.
local core = require "runwatch.core"
local json = require "runwatch.json"
local progress = require "runwatch.progress"
local fmt = require "runwatch.export_format"
local task = require "runwatch.task"
local run_mod = require "runwatch.run"
local filters_mod = require "runwatch.filters"
local fields = require "runwatch.fields"
local paths = require "runwatch.wb.paths"
local paged = require "runwatch.paged"
local errors = require "runwatch.errors"
local runs_mod = require "runwatch.runs"

local M = {}
local null = json.null

M.FORMATS = {csv = true, jsonl = true, json = true}

-- {====== values: what a column means for a Run or a plain row, and how a value is written

-- Run fields a column may name (fields.lua's `export` rows; besides config.X, summary.X,
-- system_metrics.X, its sections), and those the lightweight runs query carries (a column list
-- of only these skips config/summary).
local RUN_FIELDS = fields.EXPORT
local SUB = {summary_metrics = "summary"}
for name in pairs(fields.SECTIONS) do SUB[name] = name end
local LIGHT = fields.LIGHT

local function is_run(x) return getmetatable(x) == run_mod.MT end
M.is_run = is_run

-- nested(t, "a.b.c"): t["a.b.c"] if that key exists, else t.a["b.c"], t["a.b"].c, ... (a key
-- may itself contain dots; the literal key wins).
local function nested(t, path)
  if type(t) ~= "table" or is_run(t) then return nil end
  local v = t[path]
  if v ~= nil then return v end
  local pos = 1
  while true do
    local dot = path:find(".", pos, true)
    if not dot then return nil end
    local sub = t[path:sub(1, dot - 1)]
    if type(sub) == "table" then
      local r = nested(sub, path:sub(dot + 1))
      if r ~= nil then return r end
    end
    pos = dot + 1
  end
end

-- sub(run, name) -> run.config / run.summary / run.system_metrics; a malformed one (a CommError
-- from decoding) is logged once per run and reads as empty, so the run's other columns are still
-- exported
local warned = setmetatable({}, {__mode = "k"})
local function sub(run, name, field)
  local ok, v = pcall(function() return run[name] end)
  if ok then return v end
  if not (errors.is(v) and v.op == "decode") then error(v, 0) end
  local w = warned[run] or {}
  warned[run] = w
  if not w[name] then
    w[name] = true
    core.log("warn", "export: " .. tostring(v.message) .. " (its " .. name .. (field and " column is" or " columns are") ..
      " left empty)")
  end
  if not field then return {} end
end

-- value(item, column) -> the column's value for a Run ("config.lr", "summary.loss", "name") or
-- a plain row ("loss", "a.b" = row["a.b"] or row.a.b); nil when missing.
function M.value(item, col)
  if is_run(item) then
    local head, rest = col:match("^([^.]+)%.(.+)$")
    head = head or col
    local v
    if SUB[head] then v = sub(item, SUB[head])
    elseif RUN_FIELDS[head] then v = sub(item, head, true)
    else return nil end
    if rest then return nested(v, rest) end
    return v
  end
  if type(item) ~= "table" then return nil end
  return nested(item, col)
end

M.text = fmt.text
M.field = fmt.field
local quote = fmt.quote

-- The default columns of a run: what a W&B user looks for in the runs table, then config.*,
-- summary.* (summary._wandb, W&B's internal key, only when asked for), then anything else, each
-- group sorted by name.
local RUN_DEFAULT = {"id", "name", "state", "tags", "notes", "user.username", "group", "created_at",
  "runtime", "sweep_name"}
M.RUN_DEFAULT = RUN_DEFAULT
local RUN_FIXED, ROW_FIXED = {}, {id = 1, name = 2, state = 3, created_at = 4}
for i, c in ipairs(RUN_DEFAULT) do RUN_FIXED[c] = i end
local INTERNAL_SUMMARY = {_wandb = true}
local function rank(c, fixed)
  if fixed[c] then return 0, fixed[c] end
  if c:sub(1, 7) == "config." then return 1 end
  if c:sub(1, 8) == "summary." then return 2 end
  return 3
end
local function less(fixed)
  return function(a, b)
    local ra, ia = rank(a, fixed)
    local rb, ib = rank(b, fixed)
    if ra ~= rb then return ra < rb end
    if ra == 0 then return ia < ib end
    return a < b
  end
end
-- the order of columns of runs, and of plain rows (id, name, state, created_at first)
local run_col_less, col_less = less(RUN_FIXED), less(ROW_FIXED)
M.column_order = col_less

local function sorted_keys(t, prefix, out, skip)
  local ks = {}
  if type(t) == "table" then
    for k in pairs(t) do if type(k) == "string" and not (skip and skip[k]) then ks[#ks + 1] = k end end
  end
  table.sort(ks)
  for _, k in ipairs(ks) do out[#out + 1] = prefix .. k end
  return out
end

-- columns_of(item) -> the item's own columns: for a Run the RUN_DEFAULT columns, then each
-- config and summary key (config.K, summary.K; not summary._wandb); for a plain row its keys,
-- sorted.
function M.columns_of(item)
  if is_run(item) then
    local cols = {}
    for i, c in ipairs(RUN_DEFAULT) do cols[i] = c end
    sorted_keys(sub(item, "config"), "config.", cols)
    sorted_keys(sub(item, "summary"), "summary.", cols, INTERNAL_SUMMARY)
    return cols
  end
  local cols = sorted_keys(item, "", {})
  table.sort(cols, col_less)
  return cols
end

-- columns(list) -> the union of every item's columns, in the default order
function M.columns(list)
  local seen, cols = {}, {}
  for _, item in ipairs(list) do
    for _, c in ipairs(M.columns_of(item)) do
      if not seen[c] then seen[c] = true; cols[#cols + 1] = c end
    end
  end
  table.sort(cols, is_run(list[1]) and run_col_less or col_less)
  return cols
end

-- the run fields a column may name, for error messages (in fields.lua's order)
local COLUMN_NAMES
do
  local names = {}
  for _, f in ipairs(fields.FIELDS) do if f.export == true then names[#names + 1] = f.name end end
  COLUMN_NAMES = table.concat(names, ", ")
end

-- check_columns(cols, runs, level): a list of non-empty strings; for runs, each names a field
local function check_columns(cols, for_runs, level)
  if cols == nil then return nil end
  if type(cols) == "string" then
    local list = {}
    for c in cols:gmatch("[^,]+") do list[#list + 1] = c:match("^%s*(.-)%s*$") end
    cols = list
  end
  if type(cols) ~= "table" then error("bad columns (a list of column names expected, got " .. type(cols) .. ")", level + 1) end
  if #cols == 0 then error("bad columns (empty list)", level + 1) end
  local out = {}
  for i, c in ipairs(cols) do
    if type(c) ~= "string" or c == "" then error("bad columns[" .. i .. "] (a non-empty string expected)", level + 1) end
    if for_runs then
      local head = c:match("^[^.]+") or c
      if not SUB[head] and not RUN_FIELDS[head] then
        error(string.format("unknown column %q (run fields: %s; or config.K, summary.K, system_metrics.K)", c,
          COLUMN_NAMES), level + 1)
      end
    end
    out[i] = c
  end
  return out
end
M.check_columns = check_columns

local function needs_full(cols)
  if not cols then return true end
  for _, c in ipairs(cols) do
    if not LIGHT[c:match("^[^.]+") or c] then return true end
  end
  return false
end

-- }======

-- {====== sources: what to export, as an iterator of items

-- each(list, info) -> iterator over a streamed paged list (runwatch.paged, keep = false): one
-- page at a time (the next one fetched while this one is consumed), nothing cached, so a
-- processed item is garbage once the caller drops it; a run id already listed is not listed
-- again. info.count = the server's count once the first page arrived.
local function each(list, info)
  local i = 0
  return function()
    i = i + 1
    local item = list[i]
    if info.count == nil then info.count = list:known_count() end
    return item
  end
end

-- stream(api, entity, project, q, info) -> iterator over the Run objects of a runs query
-- (q = {filters = JSON text, order, per_page, full}), page by page, uncached. A missing
-- project raises the CommError of api.runs.
local function stream(api, entity, project, q, info)
  return each(runs_mod.new(api, entity, project, q.filters, q.order, q.per_page, q.full, nil, false), info)
end
M.stream = stream

-- A lazy list (api.runs() result) as an iterator that does not fill the list's cache: the same
-- query, streamed. Nil for anything else.
local function lazy_items(src)
  local mt = getmetatable(src)
  if mt ~= paged.MT then return nil end
  local s = rawget(src, "_")
  local info = {runs = tostring(s.name):match("^Runs ") ~= nil or nil}
  if s.count ~= nil and not s.has_next and s.keep ~= false then
    -- already read to the end and kept: its elements are in memory anyway
    local i = 0
    info.count = src:loaded()
    if info.runs == nil then info.runs = is_run(src[1]) end
    return function() i = i + 1; return src[i] end, info
  end
  local it = each(src:stream(), info)
  return function()
    local item = it()
    if info.runs == nil and item ~= nil then info.runs = is_run(item) end
    return item
  end, info
end

-- items(src) -> iterator, info. src: a list of rows or Runs, an api.runs() result (streamed
-- from its query without filling its cache), or an iterator function.
local function items(src, level)
  if type(src) == "function" then return src, {} end
  if type(src) == "table" then
    local it, info = lazy_items(src)
    if it then return it, info end
    if not is_run(src) then
      local i = 0
      return function() i = i + 1; return src[i] end, {count = #src, list = src, runs = is_run(src[1])}
    end
  end
  error("bad argument #1 (a list of rows or runs, an api.runs() result or an iterator function expected, got " ..
    type(src) .. ")", level + 1)
end

-- }======

local open_out, WRITERS = fmt.open_out, fmt.WRITERS

-- {====== the export loop

-- CSV without a column list: each item's cells go to a spool file as they arrive (constant
-- memory), the column set grows; then the header and every row are written from the spool.
local function csv_spooled(next_item, out, prog)
  local sf, err = io.tmpfile()   -- anonymous: gone when closed, even if the process dies
  if not sf then error({export_io = "cannot create a temporary file: " .. tostring(err)}, 0) end
  local ok, res = pcall(function()
    local idx, cols, count, runs = {}, {}, 0, false
    for item in next_item do
      if count == 0 then runs = is_run(item) end
      local parts = {}
      for _, c in ipairs(M.columns_of(item)) do
        local k = idx[c]
        if not k then cols[#cols + 1] = c; k = #cols; idx[c] = k end
        local v = M.value(item, c)
        if v ~= nil and v ~= null then parts[#parts + 1] = string.pack("<I4s4", k, quote(M.text(v))) end
      end
      local okw, werr = sf:write(string.pack("<s4", table.concat(parts)))
      if not okw then error({export_io = "cannot write the temporary file: " .. tostring(werr)}, 0) end
      count = count + 1
      if prog then prog.done = count; prog:draw() end
    end
    local order = {}
    for i = 1, #cols do order[i] = cols[i] end
    table.sort(order, runs and run_col_less or col_less)
    local pos, header = {}, {}
    for i, c in ipairs(order) do pos[idx[c]] = i; header[i] = quote(c) end
    local ncols = #order
    out:write(table.concat(header, ",") .. "\r\n")
    sf:seek("set", 0)
    while true do
      local h = sf:read(4)
      if not h then break end
      local len = string.unpack("<I4", h)
      local body = len > 0 and sf:read(len) or ""
      local cells, p = {}, 1
      while p <= #body do
        local k, cell
        k, cell, p = string.unpack("<I4s4", body, p)
        cells[pos[k]] = cell
      end
      for j = 1, ncols do if not cells[j] then cells[j] = "" end end
      out:write(table.concat(cells, ",", 1, ncols) .. "\r\n")
    end
    return count
  end)
  sf:close()
  if not ok then error(res, 0) end
  return res
end

local HISTORY_LOOKAHEAD = 4

-- run(next_item, info, out, o) -> count of rows written (raises; the caller turns the world's
-- failures into nil, err)
local function run_export(next_item, info, out, o, prog)
  local w = WRITERS[o.format](out)
  local count = 0
  if o.history then
    local rcols = o.columns or {"id"}
    local cols, nr = {}, #rcols
    for i, c in ipairs(rcols) do cols[i] = c end
    cols[nr + 1] = "_step"
    for i, k in ipairs(o.history) do cols[nr + 1 + i] = k end
    local n = #cols
    w.begin(cols)
    -- the next few runs' history scans start while this run's rows are written
    local queue, exhausted, runs = {}, false, 0
    local function fill()
      while not exhausted and #queue < HISTORY_LOOKAHEAD do
        local item = next_item()
        if item == nil then exhausted = true; break end
        if not is_run(item) then error("a history export needs runs, got a " .. type(item), 0) end
        local slot = {item = item}
        slot.task = task.new(function()
          slot.iter = item:scan_history{keys = o.history, page_size = o.page_size}
        end, {quiet = true})
        queue[#queue + 1] = slot
      end
    end
    fill()
    while #queue > 0 do
      local slot = table.remove(queue, 1)
      fill()
      local ok, err = slot.task:wait()
      if not ok then error(slot.task.errvalue or err, 0) end
      local item = slot.item
      local vals = {}
      for i = 1, nr do vals[i] = M.value(item, rcols[i]) end
      for row in slot.iter do
        vals[nr + 1] = row._step
        for i, k in ipairs(o.history) do vals[nr + 1 + i] = nested(row, k) end
        w.row(cols, vals, n)
        count = count + 1
        if prog then prog.extra_count = count; prog:draw() end
      end
      runs = runs + 1
      if prog then prog.done = runs; prog:draw() end
    end
    w.finish()
    return count
  end
  if o.columns then
    local cols, n = o.columns, #o.columns
    w.begin(cols)
    for item in next_item do
      local vals = {}
      for i = 1, n do vals[i] = M.value(item, cols[i]) end
      w.row(cols, vals, n)
      count = count + 1
      if prog then prog.done = count; prog:draw() end
    end
    w.finish()
    return count
  end
  if o.format == "csv" then
    if info.list then
      o.columns = M.columns(info.list)
      return run_export(next_item, info, out, o, prog)
    end
    return csv_spooled(next_item, out, prog)
  end
  -- JSON Lines / JSON without a column list: each object has the item's own columns
  w.begin()
  for item in next_item do
    local cols = M.columns_of(item)
    local vals = {}
    for i, c in ipairs(cols) do vals[i] = M.value(item, c) end
    w.row(cols, vals, #cols)
    count = count + 1
    if prog then prog.done = count; prog:draw() end
  end
  w.finish()
  return count
end

local function errmsg(e)
  if type(e) == "table" and e.export_io then return e.export_io end
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if mt and mt.__tostring then return tostring(e) end
  return "(error object is a " .. type(e) .. " value)"
end

local function check_opts(o, level)
  if o == nil then return {} end
  if type(o) ~= "table" then error("bad options (table expected, got " .. type(o) .. ")", level + 1) end
  return o
end

local function check_history(h, level)
  if h == nil then return nil end
  if type(h) == "string" then
    local list = {}
    for k in h:gmatch("[^,]+") do list[#list + 1] = k:match("^%s*(.-)%s*$") end
    h = list
  end
  if type(h) ~= "table" or #h == 0 then error("bad history (a non-empty list of metric keys expected)", level + 1) end
  for i, k in ipairs(h) do
    if type(k) ~= "string" or k == "" then error("bad history[" .. i .. "] (a metric key expected)", level + 1) end
    if k == "_step" then error("bad history: _step is always exported; list only metric keys", level + 1) end
  end
  return h
end

-- write_items(next_item, info, target, o, level) -> rows written, or nil, err
local function write_items(next_item, info, target, o, level)
  level = level + 1
  local format = o.format or "csv"
  if not M.FORMATS[format] then error("bad format '" .. tostring(format) .. "' (csv, jsonl or json)", level) end
  local opts = {format = format, history = check_history(o.history, level),
    columns = check_columns(o.columns, info.runs, level), page_size = o.page_size or 1000}
  if math.type(opts.page_size) ~= "integer" or opts.page_size < 1 then error("bad page_size (positive integer expected)", level) end
  local out, oerr = open_out(target, level)
  if not out then return nil, oerr end
  local prog = progress.new{enabled = progress.wanted(o.progress, out.stdout), unit = "runs",
    extra = opts.history and "rows" or nil}
  if prog then
    local base = next_item
    next_item = function()
      local item = base()
      prog.total = info.count
      return item
    end
  end
  local ok, res = pcall(run_export, next_item, info, out, opts, prog)
  local cok, cerr = out:close()
  if prog and ok then prog.total = info.count; prog:draw(true) end
  if not ok then
    if prog then io.stderr:write("\n") end
    return nil, errmsg(res), res
  end
  if not cok then return nil, cerr end
  return res
end

-- write(src, target, o) -> rows written, or nil, err. o: format ("csv", "jsonl", "json"),
-- columns, history (metric keys: one row per run and step), progress, page_size. The core of
-- export.csv/jsonl/json.
function M.write(src, target, o)
  o = check_opts(o, 2)
  local next_item, info = items(src, 2)
  local n, err = write_items(next_item, info, target, o, 2)
  return n, err
end

-- csv(rows_or_runs, path, columns [, opts]) -> rows written, or nil, err
function M.csv(src, path, columns, o)
  o = check_opts(o, 2)
  local copy = {}
  for k, v in pairs(o) do copy[k] = v end
  copy.format, copy.columns = "csv", columns
  local next_item, info = items(src, 2)
  local n, err = write_items(next_item, info, path, copy, 2)
  return n, err
end

-- jsonl(rows_or_runs, path, columns [, opts]) -> rows written, or nil, err
function M.jsonl(src, path, columns, o)
  o = check_opts(o, 2)
  local copy = {}
  for k, v in pairs(o) do copy[k] = v end
  copy.format, copy.columns = "jsonl", columns
  local next_item, info = items(src, 2)
  local n, err = write_items(next_item, info, path, copy, 2)
  return n, err
end

-- json(rows_or_runs, path, columns [, opts]) -> rows written, or nil, err (one JSON array)
function M.json(src, path, columns, o)
  o = check_opts(o, 2)
  local copy = {}
  for k, v in pairs(o) do copy[k] = v end
  copy.format, copy.columns = "json", columns
  local next_item, info = items(src, 2)
  local n, err = write_items(next_item, info, path, copy, 2)
  return n, err
end

-- query(path, o) -> api, entity, project, q: a project's runs query as api.runs would send it
local function query(path, o, level)
  local A = o.api or require("runwatch.api").default()
  local settings = A.settings or {}
  local entity, project = paths.project(path, {project = settings.project,
    entity = settings.entity or function() return A.default_entity end}, level + 1)
  local per_page = o.per_page or 1000
  if math.type(per_page) ~= "integer" or per_page < 1 or per_page > 1000 then
    error("bad per_page (an integer from 1 to 1000 expected)", level + 1)
  end
  local filters = o.filters
  if type(filters) == "string" then
    local f, err = json.decode(filters)
    if type(f) ~= "table" then error("bad filters (JSON object expected): " .. tostring(err or "not an object"), level + 1) end
    filters = f
  end
  return A, entity, project, {filters = filters_mod.encode(filters, level + 1),
    order = filters_mod.order(o.order, level + 1), per_page = per_page}
end

-- each_run(path, filters, {order=, per_page=1000, full=true}) -> iterator over Run objects,
-- streamed page by page and never cached (constant memory over any number of runs), and an
-- info table whose count is the runCount once the first page arrived.
function M.each_run(path, filters, o)
  o = check_opts(o, 2)
  local copy = {filters = filters}
  for k, v in pairs(o) do copy[k] = v end
  local A, entity, project, q = query(path, copy, 2)
  q.full = o.full ~= false
  local info = {}
  return stream(A, entity, project, q, info), info
end

-- project(path, {filters=, order=, per_page=1000, columns=, format="csv", output="-",
--   history=, progress=, api=}) -> rows written, or nil, err. What `runwatch export` runs.
function M.project(path, o)
  o = check_opts(o, 2)
  local A, entity, project, q = query(path, o, 2)
  local cols = check_columns(o.columns, true, 2)
  q.full = needs_full(cols) or false
  if o.history then q.full = needs_full(cols or {"id"}) end
  local info = {runs = true}
  local n, err, raw = write_items(stream(A, entity, project, q, info), info, o.output, {format = o.format,
    columns = cols, history = o.history, progress = o.progress, page_size = o.page_size}, 2)
  if n == nil and errors.is(raw) and raw.exc == "project not found" then
    err = "project " .. entity .. "/" .. project .. " not found"
  end
  return n, err
end

-- }======

return M
