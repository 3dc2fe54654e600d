-- How exported values are written: a value as CSV text, RFC 4180 quoting, the output (file, stdout or an open handle), and one writer per format (CSV, JSON Lines, JSON).
local json = require "runwatch.json"

local M = {}
local null = json.null

-- Nested objects are written with sorted keys: Lua tables keep no order, and the same run must
-- export to the same bytes every time.
M.SORTED = {sort_keys = true}
local SORTED = M.SORTED

-- text(v) -> v as a CSV field before quoting: strings as they are, integers exact, floats
-- shortest round-trip, NaN/inf/-inf, True/False, tables as compact JSON (sorted keys), nil and
-- null empty.
function M.text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v then return "NaN" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return json.encode(v)
  end
  if v == nil or v == null then return "" end
  if t == "boolean" then return v and "True" or "False" end
  if t == "table" then
    local ok, s = pcall(json.encode, v, SORTED)
    if ok then return s end
  end
  return tostring(v)
end

-- field(v) -> the RFC 4180 field: quoted when it holds a comma, a quote, CR or LF
local function quote(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end
M.quote = quote
function M.field(v) return quote(M.text(v)) end

-- {====== writers

local Out = {}
Out.__index = Out

local function open_out(target, level)
  if target == nil or target == "-" then
    io.stdout:setvbuf("full", 65536)
    return setmetatable({f = io.stdout, name = "stdout", stdout = true}, Out)
  end
  if io.type(target) == "file" then return setmetatable({f = target, name = "file", borrowed = true}, Out) end
  if type(target) ~= "string" or target == "" then
    error("bad output (a file name, \"-\" or an open file expected, got " .. type(target) .. ")", level + 1)
  end
  local f, err = io.open(target, "wb")
  if not f then return nil, "cannot write " .. err end
  f:setvbuf("full", 65536)
  return setmetatable({f = f, name = target}, Out)
end

function Out:write(s)
  local ok, err = self.f:write(s)
  if not ok then error({export_io = "cannot write " .. self.name .. ": " .. tostring(err)}, 0) end
end

function Out:close()
  local ok, err = self.f:flush()
  if self.stdout then io.stdout:setvbuf("line") end
  if not self.stdout and not self.borrowed then
    local ok2, err2 = self.f:close()
    ok, err = ok and ok2, err or err2
  end
  if not ok then return nil, "cannot write " .. self.name .. ": " .. tostring(err) end
  return true
end

-- One writer per format: begin(cols or nil), row(cols, vals, n), finish()
local function csv_writer(out)
  return {
    begin = function(cols)
      local h = {}
      for i, c in ipairs(cols) do h[i] = quote(c) end
      out:write(table.concat(h, ",") .. "\r\n")
    end,
    row = function(_, vals, n)
      local cells = {}
      for i = 1, n do
        local v = vals[i]
        cells[i] = (v == nil or v == null) and "" or quote(M.text(v))
      end
      out:write(table.concat(cells, ",") .. "\r\n")
    end,
    finish = function() end,
  }
end

local function json_object(cols, vals, n)
  local parts = {}
  for i = 1, n do
    local v = vals[i]
    if v ~= nil then parts[#parts + 1] = json.encode(cols[i]) .. ":" .. json.encode(v, SORTED) end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function jsonl_writer(out)
  return {
    begin = function() end,
    row = function(cols, vals, n) out:write(json_object(cols, vals, n) .. "\n") end,
    finish = function() end,
  }
end

local function json_writer(out)
  local first = true
  return {
    begin = function() out:write("[") end,
    row = function(cols, vals, n)
      out:write((first and "\n" or ",\n") .. json_object(cols, vals, n))
      first = false
    end,
    finish = function() out:write("\n]\n") end,
  }
end

M.WRITERS = {csv = csv_writer, jsonl = jsonl_writer, json = json_writer}

-- }======

M.open_out = open_out

return M
