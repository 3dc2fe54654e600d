-- MongoDB-style run filters: validation before any request (an error names the field and the
-- operator), translation to the server's keys (summary.X -> summary_metrics.X) and encoding as
-- the SDK sends them. Validation walks the filter with raw iteration (no metamethods run), keys
-- must be strings, strings valid UTF-8, nesting at most MAX_DEPTH tables deep and free of
-- reference cycles, so a bad filter is always "bad filter at <field>: <why>", never an encoder
-- error or a runaway recursion.
local json = require "runwatch.json"
local fields = require "runwatch.fields"

local M = {}

-- The deepest filter accepted (tables inside tables: $and lists, operator tables, object
-- values). MongoDB's own limit for documents is 100; real filters are a few levels deep.
M.MAX_DEPTH = 64
-- Longer keys and values are shown shortened in error messages.
local SHOW_MAX = 80

local OPS = {["$eq"] = true, ["$ne"] = true, ["$gt"] = true, ["$gte"] = true, ["$lt"] = true,
  ["$lte"] = true, ["$in"] = true, ["$nin"] = true, ["$exists"] = true, ["$regex"] = true,
  ["$not"] = true, ["$options"] = true}
local LOGICAL = {["$and"] = true, ["$or"] = true, ["$nor"] = true}

-- Run columns the server filters and orders on, with their aliases (fields.lua's `filter`):
-- alias -> the server's column.
M.COLUMNS = fields.FILTER_COLUMNS
-- Prefixes of nested keys: "config.lr", "summary.loss", ...; they need a key after the dot. The
-- run's sections (fields.lua), and the server's own paths (keys_info.keys.K, tags.T).
local NESTED = {summary_metrics = true, keys_info = true, tags = true}
for name in pairs(fields.SECTIONS) do NESTED[name] = true end

-- the columns an error lists: each field's script name (its first alias), in fields.lua's order
local COLUMN_LIST
do
  local names = {}
  for _, f in ipairs(fields.FIELDS) do
    if f.filter then
      local shown = f.filter[1]
      for _, a in ipairs(f.filter) do if not a:find("%u") then shown = a break end end
      names[#names + 1] = shown
    end
  end
  COLUMN_LIST = table.concat(names, ", ")
end

-- server key for a user key: summary.X -> summary_metrics.X (the SDK's only summary prefix)
function M.server_key(k)
  if k:sub(1, 8) == "summary." then return "summary_metrics." .. k:sub(9) end
  return k
end

-- A key or value as an error message shows it: quoted, escaped, at most SHOW_MAX bytes.
local function show(v)
  if type(v) ~= "string" then return tostring(v) end
  local s = v
  if #s > SHOW_MAX then s = s:sub(1, SHOW_MAX) end
  s = string.format("%q", s):gsub("\\\n", "\\n"):gsub("[\128-\255]", function(c)
    return string.format("\\x%02X", c:byte())
  end)
  if #v > SHOW_MAX then s = s .. string.format(" (%d bytes)", #v) end
  return s
end

-- A path segment for a key: config.lr, or ["a b"] / [1] for keys that would not read well.
local function seg(path, k)
  if type(k) == "string" and #k <= SHOW_MAX and k:match("^[%w_$][%w_$.%-]*$")
     and not k:find("..", 1, true) and k:sub(-1) ~= "." then
    return path == "" and k or (path .. "." .. k)
  end
  return path .. "[" .. show(k) .. "]"
end

-- A list (json.array-marked, or keys exactly 1..n): raw iteration, no metamethods.
local function is_list(t)
  if type(t) ~= "table" then return false end
  local mt = getmetatable(t)
  if mt == json.array_mt then return true end
  if mt == json.object_mt then return false end
  local n, max = 0, 0
  for k in next, t do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
    if k > max then max = k end
  end
  return n == max
end

local function fail(path, msg, level)
  if #path > 160 then path = path:sub(1, 70) .. " ... " .. path:sub(-70) end
  error(string.format("bad filter at %s: %s", path == "" and "(top level)" or path, msg), level + 1)
end

-- Text must be what the encoder writes: UTF-8, or a lone surrogate in WTF-8 form (W&B answers
-- may hold those, and json.decode keeps them), so a value read from a run can be filtered on.
local function check_utf8(path, s, what, level)
  if utf8.len(s) or pcall(json.encode, s) then return end
  local _, at = utf8.len(s)
  fail(path, string.format("%s is not valid UTF-8 (byte %d)", what, at), level + 1)
end

-- The walk's state: the tables on the current path (cycle check) and its depth.
local function enter(st, path, t, level)
  if st.active[t] then fail(path, "the filter contains itself (a reference cycle)", level + 1) end
  st.depth = st.depth + 1
  if st.depth > M.MAX_DEPTH then fail(path, "nested deeper than " .. M.MAX_DEPTH .. " tables", level + 1) end
  st.active[t] = true
end
local function leave(st, t)
  st.active[t] = nil
  st.depth = st.depth - 1
end

-- Errors about a key name the filter (or $and list item) that holds it, like the field's
-- neighbours: "bad filter at (top level): unknown field \"colour\"".
local function check_key(path, k, level)
  if type(k) ~= "string" then
    local hint = math.type(k) == "integer" and path == "" and
      " (a filter is a table of field = condition, not a list; lists go in $and/$or/$nor)" or ""
    fail(path, string.format("keys must be strings, got %s %s%s", type(k), show(k), hint), level + 1)
  end
  check_utf8(path, k, "the key " .. show(k), level + 1)
  if k:sub(1, 1) == "$" then return end
  local root, rest = k:match("^([^.]*)(.*)$")
  if M.COLUMNS[root] == nil and not NESTED[root] then
    fail(path, string.format("unknown field %s (run columns: %s; or config.X, summary.X)", show(k), COLUMN_LIST), level + 1)
  end
  if k:find("..", 1, true) or k:sub(-1) == "." then fail(path, string.format("malformed key %s", show(k)), level + 1) end
  if rest == "" and NESTED[root] and not M.COLUMNS[root] then
    fail(path, string.format("%s needs a key after it (%s.KEY)", show(k), root), level + 1)
  end
end

local scalar = {string = true, number = true, boolean = true}

-- A plain value (compared for equality, an $in item, an operator's argument): scalars, json.null,
-- and lists/objects of them with string keys.
local function check_value(st, path, v, level)
  local tv = type(v)
  if tv == "string" then check_utf8(path, v, "the value", level + 1) return end
  if scalar[tv] or v == json.null then return end
  if tv ~= "table" then
    fail(path, "a value must be a string, number, boolean, json.null, a list or a table, got " .. tv, level + 1)
  end
  enter(st, path, v, level + 1)
  local list = is_list(v)
  for k, x in next, v do
    local p
    if list then p = path .. "[" .. tostring(k) .. "]"
    else
      p = seg(path, k)
      if type(k) ~= "string" then
        fail(p, string.format("keys of a table value must be strings, got %s %s", type(k), show(k)), level + 1)
      end
      check_utf8(p, k, "the key", level + 1)
    end
    check_value(st, p, x, level + 1)
  end
  leave(st, v)
end

local function scalar_arg(st, p, op, arg, level)
  if not scalar[type(arg)] and arg ~= json.null then
    fail(p, op .. " needs a string, number, boolean or json.null, got " .. type(arg), level + 1)
  end
  if arg ~= arg then fail(p, op .. " cannot compare with NaN", level + 1) end
  check_value(st, p, arg, level + 1)
  return arg
end

-- Validates and rewrites one field's condition; returns the server form.
local field_cond
field_cond = function(st, path, v, level)
  if type(v) ~= "table" then
    check_value(st, path, v, level + 1)
    return v
  end
  if is_list(v) and next(v) ~= nil then           -- a list compared for equality
    check_value(st, path, v, level + 1)
    return json.array(v)
  end
  enter(st, path, v, level + 1)
  local out = {}
  local has_op, has_plain, plain_key = false, false, nil
  for op in next, v do
    if type(op) ~= "string" then
      fail(seg(path, op), string.format("keys must be strings, got %s %s (a condition is a table " ..
        "of $operators, or a value)", type(op), show(op)), level + 1)
    end
    if op:sub(1, 1) == "$" then has_op = true else has_plain, plain_key = true, op end
  end
  if has_op and has_plain then
    fail(path, "mixes operators and plain keys (" .. show(plain_key) .. ")", level + 1)
  end
  if not has_op then                              -- an object literal compared for equality
    leave(st, v)
    check_value(st, path, v, level + 1)
    return v
  end
  for op, arg in next, v do
    local p = path .. "." .. op
    if not OPS[op] then
      if LOGICAL[op] then fail(p, op .. " belongs at the top level or inside $and/$or/$nor, not on a field", level + 1) end
      fail(p, string.format("unknown operator %s (known: $eq $ne $gt $gte $lt $lte $in $nin $exists $regex $not)", show(op)), level + 1)
    end
    if op == "$in" or op == "$nin" then
      if not is_list(arg) then
        fail(p, op .. " needs a list, got " .. (type(arg) == "table" and "a table with other keys than 1..n" or type(arg)), level + 1)
      end
      enter(st, p, arg, level + 1)
      local a = {}
      for i = 1, #arg do
        local x = arg[i]
        if not scalar[type(x)] and x ~= json.null then
          fail(p .. "[" .. i .. "]", "list items must be scalars, got " .. type(x), level + 1)
        end
        check_value(st, p .. "[" .. i .. "]", x, level + 1)
        a[i] = x
      end
      leave(st, arg)
      out[op] = json.array(a)
    elseif op == "$exists" then
      if type(arg) ~= "boolean" then fail(p, "$exists needs true or false, got " .. type(arg), level + 1) end
      out[op] = arg
    elseif op == "$regex" or op == "$options" then
      if type(arg) ~= "string" then fail(p, op .. " needs a string, got " .. type(arg), level + 1) end
      check_utf8(p, arg, "the pattern", level + 1)
      if op == "$options" and v["$regex"] == nil then fail(p, "$options needs a $regex beside it", level + 1) end
      out[op] = arg
    elseif op == "$not" then
      if type(arg) ~= "table" or is_list(arg) and next(arg) ~= nil then
        fail(p, "$not needs an operator table, got " .. (type(arg) == "table" and "a list" or type(arg)), level + 1)
      end
      out[op] = field_cond(st, p, arg, level + 1)
    else
      out[op] = scalar_arg(st, p, op, arg, level + 1)
    end
  end
  leave(st, v)
  return out
end

local function doc(st, path, f, level)
  if type(f) ~= "table" then fail(path, "a table expected, got " .. type(f), level + 1) end
  enter(st, path, f, level + 1)
  local out = {}
  for k, v in next, f do
    check_key(path, k, level + 1)
    local p = seg(path, k)
    if LOGICAL[k] then
      if not is_list(v) or next(v) == nil then fail(p, k .. " needs a non-empty list of filters", level + 1) end
      enter(st, p, v, level + 1)
      local list = {}
      for i = 1, #v do list[i] = doc(st, p .. "[" .. i .. "]", v[i], level + 1) end
      leave(st, v)
      out[k] = json.array(list)
    elseif k:sub(1, 1) == "$" then
      fail(p, string.format("unknown top-level operator %s (known: $and $or $nor)", show(k)), level + 1)
    else
      local sk = M.server_key(k)
      if out[sk] ~= nil then
        fail(p, string.format("the field is given twice (as %s and as its alias)", show(k)), level + 1)
      end
      out[sk] = field_cond(st, p, v, level + 1)
    end
  end
  leave(st, f)
  return out
end

-- normalize(filters) -> server-form filter table (validated). Raises naming the field.
function M.normalize(filters, level)
  if filters == nil then return {} end
  local out = doc({active = {}, depth = 0}, "", filters, (level or 1) + 1)
  return out
end

-- encode(filters) -> the JSON string sent as $filters, formatted like Python's json.dumps
function M.encode(filters, level)
  local n = M.normalize(filters, (level or 1) + 1)
  if next(n) == nil then return "{}" end
  local ok, s = pcall(json.encode, n, {python = true, sort_keys = true})
  if not ok then   -- normalize checked what the encoder refuses; this is a last line of defence
    error("bad filter: " .. tostring(s):gsub("^json%.encode: ", ""), (level or 1) + 1)
  end
  return s
end

-- order("-summary.loss") -> "-summary_metrics.loss"; config.X -> config.X.value
function M.order(o, level)
  level = (level or 1) + 1
  if o == nil or o == "" then return "-created_at" end
  if type(o) ~= "string" then error("bad order (string expected, got " .. type(o) .. ")", level) end
  local sign, key = o:match("^([+-]?)(.*)$")
  -- a column or section name ("created_at", "summary"), then dotted segments; metric names hold
  -- '/', spaces and other punctuation ("summary.valid/r2", "summary.acc (top-1)"): after the first
  -- dot any text but control characters, with no empty segment
  local root, rest = key:match("^([^.]*)(.*)$")
  if key == "" or #key > 256 or not root:match("^[%w_][%w_%-]*$") or rest:find("%c") or not utf8.len(rest)
     or key:find("..", 1, true) or key:sub(-1) == "." or rest:find("^%.%s") or rest:find("%s$") then
    error(string.format("bad order %s (a key like \"-created_at\" or \"+summary.loss\" expected)", show(o)), level)
  end
  local root = key:match("^[^.]*")
  if key == root and NESTED[root] and not M.COLUMNS[root] then
    error(string.format("bad order %s: %s needs a key after it (%s.KEY)", show(o), root, root), level)
  end
  key = M.server_key(key)
  local first, rest = key:match("^config%.([^.]+)(.*)$")
  if first and not rest:match("^%.value") then key = "config." .. first .. ".value" .. rest end
  return (sign == "" and "+" or sign) .. key
end

return M
