-- A small writer of W&B run directories in the real .wandb format (7-byte header, 32 KiB blocks, CRC-32 chunks, protobuf records), for demos and tests; loaded with dofile().
--
--   local W = dofile("scripts/demo/wandb_writer.lua")
--   local w = W.create(path)                 -- writes the header
--   w:write(W.run{run_id = "abc", project = "demo", config = {lr = 0.1}, start_time = t})
--   w:write(W.history(0, {loss = 1.5}))      -- one committed row (items as nested keys)
--   w:write(W.summary({loss = 1.5}))
--   w:write(W.exit(0, 42)); w:close()
-- w:write(bytes, {partial = n}) writes only the first n bytes of the framed record (a writer
-- that died mid-record). The framing follows wandb-core's leveldb writer: a chunk never
-- crosses a 32 KiB boundary, a block tail under 7 bytes is zero padding.
local json = require "runwatch.json"

local M = {}
local BLOCK = 32768

-- {====== CRC-32/IEEE (zlib's crc32)
local CRC = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = 0xEDB88320 ~ (c >> 1) else c = c >> 1 end
  end
  CRC[i] = c
end

function M.crc32(s, crc)
  crc = (crc or 0) ~ 0xFFFFFFFF
  for i = 1, #s do
    crc = CRC[(crc ~ s:byte(i)) & 0xFF] ~ (crc >> 8)
  end
  return crc ~ 0xFFFFFFFF
end
-- }======

-- {====== protobuf encoding
local function varint(n)
  local out = {}
  repeat
    local b = n & 0x7F
    n = n >> 7                    -- logical shift: a negative int32 becomes 10 bytes, as in Go
    if n ~= 0 then b = b | 0x80 end
    out[#out + 1] = string.char(b)
  until n == 0
  return table.concat(out)
end
M.varint = varint

local function key(num, wt) return varint(num << 3 | wt) end
local function f_varint(num, v) return key(num, 0) .. varint(v) end
local function f_bytes(num, s) return key(num, 2) .. varint(#s) .. s end
local function f_str(num, s) if s == nil or s == "" then return "" end return f_bytes(num, s) end

local function timestamp(t)
  local secs = math.floor(t)
  local nanos = math.floor((t - secs) * 1e9 + 0.5)
  if nanos >= 1000000000 then secs, nanos = secs + 1, 0 end
  return f_varint(1, secs) .. (nanos > 0 and f_varint(2, nanos) or "")
end

local function value_json(v)
  if type(v) == "table" and getmetatable(v) ~= json.array_mt and next(v) ~= nil and not json.is_array(v) then
    return nil
  end
  return json.encode(v)
end

-- Items of a table as wandb-core writes them: every leaf a nested_key path; dicts flattened.
local function items(t, field, prefix, out)
  out = out or {}
  prefix = prefix or {}
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = t[k]
    local path = {table.unpack(prefix)}
    path[#path + 1] = tostring(k)
    local text = value_json(v)
    if text == nil then
      items(v, field, path, out)
    else
      local body = {}
      for _, p in ipairs(path) do body[#body + 1] = f_bytes(2, p) end
      body[#body + 1] = f_bytes(16, text)
      out[#out + 1] = f_bytes(field, table.concat(body))
    end
  end
  return out
end

-- A config item as RunRecord.config holds it: key = top-level key, value_json = the raw value.
local function config_items(t, field)
  local out = {}
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    out[#out + 1] = f_bytes(field, f_bytes(1, k) .. f_bytes(16, json.encode(t[k])))
  end
  return out
end

local function record(num, field, body)
  return f_varint(1, num) .. f_bytes(field, body)
end

-- Record builders: each returns a function(num) -> the serialized Record.
function M.header(producer)
  return function(num) return record(num, 21, f_bytes(1, f_str(1, producer or "runwatch-demo") .. f_str(2, "0.40.0"))) end
end

function M.run(o)
  local body = {f_str(1, o.run_id), f_str(2, o.entity), f_str(3, o.project)}
  if o.config then body[#body + 1] = f_bytes(4, table.concat(config_items(o.config, 1))) end
  body[#body + 1] = f_str(6, o.group)
  body[#body + 1] = f_str(7, o.job_type)
  body[#body + 1] = f_str(8, o.display_name)
  body[#body + 1] = f_str(9, o.notes)
  for _, tag in ipairs(o.tags or {}) do body[#body + 1] = f_bytes(10, tag) end
  body[#body + 1] = f_str(12, o.sweep_id)
  body[#body + 1] = f_str(13, o.host)
  if o.start_time then body[#body + 1] = f_bytes(17, timestamp(o.start_time)) end
  if o.git_remote or o.git_commit then
    body[#body + 1] = f_bytes(21, f_str(1, o.git_remote) .. f_str(2, o.git_commit))
  end
  local b = table.concat(body)
  return function(num) return record(num, 17, b) end
end

function M.history(step, row)
  local r = {}
  for k, v in pairs(row) do r[k] = v end
  r._step = step
  local b = table.concat(items(r, 1)) .. f_bytes(2, step ~= 0 and f_varint(1, step) or "")
  return function(num) return record(num, 2, b) end
end

function M.summary(update, remove)
  local b = table.concat(items(update or {}, 1))
  for _, k in ipairs(remove or {}) do b = b .. f_bytes(2, f_bytes(2, k)) end
  return function(num) return record(num, 3, b) end
end

function M.config(update, remove)
  local b = table.concat(config_items(update or {}, 1))
  for _, k in ipairs(remove or {}) do b = b .. f_bytes(2, f_bytes(1, k)) end
  return function(num) return record(num, 5, b) end
end

function M.stats(t, values)
  local body = {f_bytes(2, timestamp(t))}
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do body[#body + 1] = f_bytes(3, f_bytes(1, k) .. f_bytes(16, json.encode(values[k]))) end
  local b = table.concat(body)
  return function(num) return record(num, 7, b) end
end

function M.output(t, line)
  local b = f_varint(1, 1) .. f_bytes(2, timestamp(t)) .. f_bytes(3, line)
  return function(num) return record(num, 13, b) end
end

function M.exit(code, runtime)
  local b = (code ~= 0 and f_varint(1, code & 0xFFFFFFFFFFFFFFFF) or "") .. (runtime and runtime ~= 0 and f_varint(2, runtime) or "")
  return function(num) return record(num, 18, b) end
end
-- }======

-- {====== the framed file
local W = {}
W.__index = W

-- create(path) -> writer (the header written); nil, err when the file cannot be created
function M.create(path)
  local fh, err = io.open(path, "wb")
  if not fh then return nil, err end
  fh:write(":W&B", string.pack("<I2", 0xBEE1), "\0")
  fh:flush()
  return setmetatable({fh = fh, pos = 7, num = 0, path = path}, W)
end

local function chunk(kind, data)
  local crc = M.crc32(data, M.crc32(string.char(kind)))
  return string.pack("<I4I2B", crc, #data, kind) .. data
end

-- frame(payload) -> the bytes of the record's chunks, from the writer's position on
function W:frame(payload)
  local out = {}
  local pos, p, left, first = self.pos, 1, #payload, true
  repeat
    local space = BLOCK - pos % BLOCK
    if space < 7 then
      out[#out + 1] = string.rep("\0", space)
      pos = pos + space
      space = BLOCK
    end
    local n = math.min(left, space - 7)
    local last = n == left
    local kind = first and (last and 1 or 2) or (last and 4 or 3)
    out[#out + 1] = chunk(kind, payload:sub(p, p + n - 1))
    pos = pos + 7 + n
    p, left, first = p + n, left - n, false
  until last
  return table.concat(out), pos
end

-- w:write(builder [, {partial = n, flush = false}]) -> the record's framed bytes
function W:write(builder, o)
  self.num = self.num + 1
  local payload = type(builder) == "function" and builder(self.num) or builder
  local bytes, pos = self:frame(payload)
  if o and o.partial then
    bytes = bytes:sub(1, o.partial)
    pos = self.pos + #bytes
  end
  self.fh:write(bytes)
  if not (o and o.flush == false) then self.fh:flush() end
  self.pos = pos
  return bytes
end

function W:flush() self.fh:flush() end

function W:close()
  if self.fh then self.fh:close(); self.fh = nil end
end
-- }======

return M
