-- MongoDB filters and run order evaluated in Lua for local runs, with the semantics W&B documents
-- for its filters (Mongo operators $and $or $nor $eq $ne $gt $gte $lt $lte $in $nin $exists
-- $regex (RE2, local/regex.lua) and $not on a field; arrays matched element-wise; comparisons
-- within a type, BSON's type order for sorting; config.K is config.K.value; dates compared as
-- times). tests/lua/test_wb_backends.lua checks that it answers as the W&B test server does.
--
-- A run here is a run record (fields.lua: id, name, state, created_at, heartbeat_at, tags, user
-- {username}, config and summary as JSON text or tables, ...).
-- compile(filters) -> predicate(run); order(spec) -> {key, desc, sort_key(run)};
-- compare(order, a, b) over entries {k = sort_key, seq = tie key}. Bad filters raise
-- "unknown filter operator $x", "invalid filters JSON: ...", "invalid $regex ...".
local json = require "runwatch.json"
local fields = require "runwatch.fields"
local regex = require "runwatch.local.regex"

local M = {}
local NULL = json.null
local NaN = 0 / 0

-- Column aliases accepted in filters and order keys -> the field's row (fields.lua's `filter`)
local COLUMNS = fields.FILTER_FIELD
M.COLUMNS = COLUMNS

local function ferror(msg) error(msg, 0) end

-- {====== values

local function is_array(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  if mt == json.array_mt or (mt and mt.__jsontype == "array") then return true end
  if mt == json.object_mt or (mt and mt.__jsontype == "object") then return false end
  return v[1] ~= nil and next(v, #v) == nil
end
M.is_array = is_array

local function is_object(v) return type(v) == "table" and not is_array(v) end

-- ISO-8601 date text -> epoch milliseconds (NaN when it is not a date). A time without a zone
-- is UTC, as the server reads both forms: "2024-01-02", "2024-01-02T03:04:05.678Z", "+02:00".
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end
M.days_from_civil = days_from_civil

function M.date_ms(s)
  if type(s) ~= "string" then return NaN end
  local y, rest = s:match("^%s*(%d%d%d%d)(.*)$")
  if not y then return NaN end
  local mo, d = 1, 1
  local a, b, r = rest:match("^%-(%d%d?)%-(%d%d?)(.*)$")
  if a then mo, d, rest = tonumber(a), tonumber(b), r
  else
    a, r = rest:match("^%-(%d%d?)(.*)$")
    if a then mo, rest = tonumber(a), r end
  end
  local hh, mm, ss, frac = 0, 0, 0, 0
  local h1, m1, r1 = rest:match("^[T ](%d%d?):(%d%d)(.*)$")
  if h1 then
    hh, mm, rest = tonumber(h1), tonumber(m1), r1
    local s1, r2 = rest:match("^:(%d%d)(.*)$")
    if s1 then
      ss, rest = tonumber(s1), r2
      local f, r3 = rest:match("^[.,](%d+)(.*)$")
      if f then frac, rest = tonumber("0." .. f), r3 end
    end
  end
  local off = 0
  if rest == "" or rest == "Z" or rest == "z" then off = 0
  else
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return NaN end
    off = (tonumber(oh) * 60 + tonumber(om)) * (sign == "+" and 1 or -1)
  end
  if mo < 1 or mo > 12 or d < 1 or d > 31 or hh > 24 or mm > 59 or ss > 60 then return NaN end
  local days = days_from_civil(tonumber(y), mo, d)
  local secs = days * 86400 + hh * 3600 + mm * 60 + ss - off * 60
  return math.floor((secs + frac) * 1000 + 0.5)
end

-- Parsed config/summary of a run (JSON text or table), cached per text.
local text_cache = setmetatable({}, {__mode = "v"})
local function parsed_doc(run, prop)
  local v = run[prop]
  if type(v) == "table" then return v end
  if type(v) ~= "string" then return {} end
  local c = text_cache[v]
  if c then return c end
  local d = json.decode(v)
  if not is_object(d) then d = {} end
  text_cache[v] = d
  return d
end
M.parsed_doc = parsed_doc

-- Walk a dotted path through objects; arrays fan out (Mongo semantics). -> list of values
local function walk(values, parts, from)
  local cur = values
  for pi = from or 1, #parts do
    local p = parts[pi]
    local nxt = {}
    for _, v in ipairs(cur) do
      if is_array(v) then
        local idx = p:match("^%d+$") and tonumber(p)
        if idx and idx < #v then nxt[#nxt + 1] = v[idx + 1] end
        for _, el in ipairs(v) do
          if is_object(el) and el[p] ~= nil then nxt[#nxt + 1] = el[p] end
        end
      elseif is_object(v) and v[p] ~= nil then
        nxt[#nxt + 1] = v[p]
      end
    end
    cur = nxt
  end
  return cur
end

local function split(path)
  local parts = {}
  for part in (path .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = part end
  return parts
end

local function run_duration(run)
  if math.type(run.runtime) then return run.runtime end
  local s = parsed_doc(run, "summary")
  if math.type(s._runtime) then return s._runtime end
  local a, b = M.date_ms(run.created_at), M.date_ms(run.heartbeat_at)
  if a == a and b == b then return math.max(0, (b - a) / 1000) end
  return NULL
end

-- Values of `path` in `run`: {} when the field is missing; json.null stands for null.
local function field_values(run, path)
  local parts = split(path)
  local head = parts[1]
  if #parts == 1 and COLUMNS[head] then
    local f = COLUMNS[head]
    local v
    if f.name == "user" then
      local u = run.user
      v = type(u) == "table" and u.username or nil
    elseif f.name == "runtime" then v = run_duration(run)
    else v = run[f.name] end
    if v == nil then v = NULL end
    if f.date and type(v) == "string" then v = M.date_ms(v) end
    return {v}
  end
  if head == "config" and #parts >= 2 then
    local cfg = parsed_doc(run, "config")
    local v = cfg[parts[2]]
    if v == nil then return {} end
    local from = 3
    if is_object(v) and v.value ~= nil then
      v = v.value
      if parts[3] == "value" then from = 4 end
    end
    return walk({v}, parts, from)
  end
  if (head == "summary_metrics" or head == "summary") and #parts >= 2 then
    return walk({parsed_doc(run, "summary")}, parts, 2)
  end
  if head == "tags" and #parts == 2 then
    for _, t in ipairs(type(run.tags) == "table" and run.tags or {}) do
      if t == parts[2] then return {true} end
    end
    return {false}
  end
  return {}
end
M.field_values = field_values

local function is_date_path(path)
  local f = COLUMNS[path]
  return f ~= nil and f.date == true
end

-- }======

-- {====== comparison

-- BSON-like type order: null < numbers < strings < objects < arrays < booleans
local function type_rank(v)
  if v == nil or v == NULL then return 0 end
  local t = type(v)
  if t == "number" then return 1 end
  if t == "string" then return 2 end
  if t == "boolean" then return 5 end
  if t == "table" then return is_array(v) and 4 or 3 end
  return 3
end

local function stringify(v)
  local ok, s = pcall(json.encode, v, {sort_keys = true})
  return ok and s or tostring(v)
end

local function cmp(a, b)
  local ra, rb = type_rank(a), type_rank(b)
  if ra ~= rb then return ra < rb and -1 or 1 end
  if ra == 1 then
    if a ~= a then return b ~= b and 0 or -1 end   -- NaN sorts below every number
    if b ~= b then return 1 end
    return a < b and -1 or (a > b and 1 or 0)
  end
  if ra == 2 then return a < b and -1 or (a > b and 1 or 0) end
  if ra == 5 then return a == b and 0 or (a and 1 or -1) end
  if ra == 0 then return 0 end
  local sa, sb = stringify(a), stringify(b)
  return sa < sb and -1 or (sa > sb and 1 or 0)
end
M.cmp = cmp

local function deep_equal(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b or (a ~= a and b ~= b) end
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if is_array(a) ~= is_array(b) then return false end
  for k, v in pairs(a) do if b[k] == nil or not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- Candidate values for matching: each value, plus each element of array values.
local function expand(values)
  local out = {}
  for _, v in ipairs(values) do
    out[#out + 1] = v
    if is_array(v) then for _, el in ipairs(v) do out[#out + 1] = el end end
  end
  return out
end

local function match_eq(values, operand)
  if operand == NULL then
    if #values == 0 then return true end
    for _, v in ipairs(expand(values)) do if v == NULL then return true end end
    return false
  end
  for _, v in ipairs(expand(values)) do if deep_equal(v, operand) then return true end end
  return false
end

local function match_cmp(values, operand, test)
  for _, v in ipairs(expand(values)) do
    if type_rank(v) == type_rank(operand) and v ~= NULL
       and not (type(v) == "number" and (v ~= v or operand ~= operand)) then
      if test(cmp(v, operand)) then return true end
    end
  end
  return false
end

-- }======


M.regex = regex.compile

-- {====== compile

local function is_operator_doc(v)
  if not is_object(v) or next(v) == nil then return false end
  for k in pairs(v) do
    if type(k) ~= "string" or k:sub(1, 1) ~= "$" then return false end
  end
  return true
end

local compile_field

-- operators are applied in a fixed order (Lua tables have no key order; the result is the same)
local OP_ORDER = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex",
  "$options", "$not"}
local KNOWN_OP = {}
for _, op in ipairs(OP_ORDER) do KNOWN_OP[op] = true end

function compile_field(path, spec)
  local date = is_date_path(path)
  local function norm(x) if date and type(x) == "string" then return M.date_ms(x) end return x end
  if not is_operator_doc(spec) then
    local operand = norm(spec)
    return function(run) return match_eq(field_values(run, path), operand) end
  end
  for op in pairs(spec) do
    if not KNOWN_OP[op] then ferror("unknown filter operator " .. op) end
  end
  local tests = {}
  for _, op in ipairs(OP_ORDER) do
    local arg = spec[op]
    if arg ~= nil then
      if op == "$eq" then local o = norm(arg); tests[#tests + 1] = function(vs) return match_eq(vs, o) end
      elseif op == "$ne" then local o = norm(arg); tests[#tests + 1] = function(vs) return not match_eq(vs, o) end
      elseif op == "$gt" then local o = norm(arg); tests[#tests + 1] = function(vs) return match_cmp(vs, o, function(c) return c > 0 end) end
      elseif op == "$gte" then local o = norm(arg); tests[#tests + 1] = function(vs) return match_cmp(vs, o, function(c) return c >= 0 end) end
      elseif op == "$lt" then local o = norm(arg); tests[#tests + 1] = function(vs) return match_cmp(vs, o, function(c) return c < 0 end) end
      elseif op == "$lte" then local o = norm(arg); tests[#tests + 1] = function(vs) return match_cmp(vs, o, function(c) return c <= 0 end) end
      elseif op == "$in" or op == "$nin" then
        if not is_array(arg) and not (type(arg) == "table" and next(arg) == nil) then ferror(op .. " needs an array") end
        local os_ = {}
        for i, x in ipairs(arg) do os_[i] = norm(x) end
        local function hit(vs)
          for _, o in ipairs(os_) do if match_eq(vs, o) then return true end end
          return false
        end
        if op == "$in" then tests[#tests + 1] = hit
        else tests[#tests + 1] = function(vs) return not hit(vs) end end
      elseif op == "$exists" then
        if type(arg) ~= "boolean" then ferror("$exists needs true or false") end
        local want = arg
        tests[#tests + 1] = function(vs) return (#vs > 0) == want end
      elseif op == "$regex" then
        local re = regex.compile(arg, spec["$options"])
        tests[#tests + 1] = function(vs)
          for _, v in ipairs(expand(vs)) do if type(v) == "string" and re(v) then return true end end
          return false
        end
      elseif op == "$options" then
        if spec["$regex"] == nil then ferror("$options without $regex") end
      elseif op == "$not" then
        local inner
        if type(arg) == "table" and not is_array(arg) then inner = compile_field(path, arg)
        elseif type(arg) == "string" then inner = compile_field(path, {["$regex"] = arg})
        else ferror("$not needs an operator document") end
        tests[#tests + 1] = function(vs, run) return not inner(run) end
      end
    end
  end
  return function(run)
    local vs = field_values(run, path)
    for _, t in ipairs(tests) do if not t(vs, run) then return false end end
    return true
  end
end

local compile_doc
function compile_doc(doc)
  if not is_object(doc) and not (type(doc) == "table" and next(doc) == nil) then
    ferror("a filter must be a JSON object")
  end
  local parts = {}
  local keys = {}
  for k in pairs(doc) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, key in ipairs(keys) do
    local v = doc[key]
    if key == "$and" or key == "$or" or key == "$nor" then
      if not is_array(v) then ferror(key .. " needs an array") end
      local subs = {}
      for i, sub in ipairs(v) do subs[i] = compile_doc(sub) end
      if key == "$and" then
        parts[#parts + 1] = function(r) for _, f in ipairs(subs) do if not f(r) then return false end end return true end
      elseif key == "$or" then
        parts[#parts + 1] = function(r) for _, f in ipairs(subs) do if f(r) then return true end end return false end
      else
        parts[#parts + 1] = function(r) for _, f in ipairs(subs) do if f(r) then return false end end return true end
      end
    elseif type(key) == "string" and key:sub(1, 1) == "$" then
      ferror("unknown filter operator " .. key)
    else
      parts[#parts + 1] = compile_field(tostring(key), v)
    end
  end
  return function(run)
    for _, f in ipairs(parts) do if not f(run) then return false end end
    return true
  end
end

local function match_all() return true end

-- compile(filters) -> predicate(run). filters: JSON text (as filters.encode makes it), a table,
-- nil or "" (everything matches). Raises on a bad filter.
function M.compile(filters)
  if filters == nil or filters == "" or filters == NULL then return match_all end
  local doc = filters
  if type(filters) == "string" then
    local err
    doc, err = json.decode(filters)
    if doc == nil then ferror("invalid filters JSON: " .. tostring(err)) end
  end
  if doc == NULL then return match_all end
  return compile_doc(doc)
end

-- }======

-- {====== order

-- order("+key" | "-key" | "key") -> {key, desc, sort_key(run) -> {missing (0/1), value}}
function M.order(spec)
  local s = ((spec or "+created_at"):match("^%s*(.-)%s*$"))
  local desc = false
  if s:sub(1, 1) == "-" then desc = true; s = s:sub(2) elseif s:sub(1, 1) == "+" then s = s:sub(2) end
  if s == "" then s = "created_at" end
  local path = s
  return {key = path, desc = desc, sort_key = function(run)
    local vs = field_values(run, path)
    if #vs == 0 or vs[1] == nil or vs[1] == NULL then return {1, nil} end
    return {0, vs[1]}
  end}
end

-- compare(order, a, b) over entries {k = sort_key, seq = n} -> <0, 0, >0. Missing keys sort
-- last in both directions; ties break by seq in the order's direction.
function M.compare(ord, a, b)
  if a.k[1] ~= b.k[1] then return a.k[1] - b.k[1] end
  local c = a.k[1] == 1 and 0 or cmp(a.k[2], b.k[2])
  if c == 0 then c = a.seq < b.seq and -1 or (a.seq > b.seq and 1 or 0) end
  return ord.desc and -c or c
end

-- sort(entries, order): entries {k=, seq=} sorted in place
function M.sort(entries, ord)
  table.sort(entries, function(a, b) return M.compare(ord, a, b) < 0 end)
  return entries
end

-- }======

return M
