-- History and system-metric rows of a local run, read again from its .wandb files at the offsets
-- the scan indexed (so memory holds offsets, not rows): one reader per file, reopened at the next
-- wanted offset when it is far; sampling keeps the first and last row; the keyed rule of W&B's
-- sampledHistory (rows holding every key, only those keys).
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local wandbfile = require "runwatch.wandbfile"
local scan = require "runwatch.local.scan"

local M = {}
local NULL = json.null
local item_path = scan.item_path

-- {====== history rows: re-read from the file at the indexed offsets

local function set_path(row, path, v)
  local node = row
  for i = 1, #path - 1 do
    local k = path[i]
    if type(node[k]) ~= "table" then node[k] = {} end
    node = node[k]
  end
  node[path[#path]] = v
end

local function decode_value(s)
  if s == nil or s == "" then return NULL end
  local v = json.decode(s)
  if v == nil then return NULL end
  return v
end

-- Reads the records of one kind at the indexed offsets (sorted indices into segs/offs), calls
-- emit(idx, rec). One reader per segment, reopened at the next wanted offset when it is far.
local FAR = 256 * 1024
local function read_indexed(run, kind, segs, offs, indices, emit)
  local k, n = 1, #indices
  while k <= n do
    local si = segs[indices[k]]
    local seg = run.segs[si]
    local f = seg and wandbfile.open(seg.path, {offset = offs[indices[k]]})
    if not f then
      errors.raise({message = "local run " .. run.id .. ": cannot read " .. (seg and seg.path or "?"), op = "History"}, 5)
    end
    while k <= n and segs[indices[k]] == si do
      local want = offs[indices[k]]
      if want > f:offset() + FAR then
        f:close()
        f = wandbfile.open(seg.path, {offset = want})
        if not f then break end
      end
      local rec, e = f:read()
      if rec == nil then break end                 -- the file ends here now: skip the rest
      if rec then
        if rec.type == kind then
          while k <= n and segs[indices[k]] == si and offs[indices[k]] < rec.offset do k = k + 1 end
          if k <= n and segs[indices[k]] == si and offs[indices[k]] == rec.offset then
            emit(indices[k], rec)
            k = k + 1
          end
        end
      elseif e.fatal then
        break
      end
    end
    if f then f:close() end
    while k <= n and segs[indices[k]] == si do k = k + 1 end
  end
end

local function read_rows(run, indices, emit)
  read_indexed(run, "history", run.row_seg, run.row_off, indices, function(idx, rec)
    local row = {}
    for _, it in ipairs(rec.items) do set_path(row, item_path(it), decode_value(it.value_json)) end
    if row._step == nil then row._step = run.steps[idx] end
    emit(idx, row)
  end)
end

local function read_stats(run, indices, emit)
  read_indexed(run, "stats", run.stats_seg, run.stats_off, indices, function(idx, rec)
    local row = {_wandb = true, _timestamp = rec.timestamp}
    if rec.timestamp and run.rec.start_time then row._runtime = rec.timestamp - run.rec.start_time end
    for _, it in ipairs(rec.items) do row["system." .. it.key] = decode_value(it.value_json) end
    emit(idx, row)
  end)
end

-- Evenly spaced indices into [1, n], at most `samples`, keeping the first and the last.
local function sample_indices(n, samples)
  if samples == nil or samples == NULL then samples = 500 end
  local out = {}
  if samples <= 0 or n == 0 then return out end
  if n <= samples then for i = 1, n do out[i] = i end return out end
  if samples == 1 then return {n} end
  for i = 0, samples - 1 do out[#out + 1] = math.floor(i * (n - 1) / (samples - 1) + 0.5) + 1 end
  return out
end

-- first index with steps[i] >= step
local function lower_bound(run, step)
  local lo, hi = 1, run.nrows + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if run.steps[mid] < step then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function rows_of(run, indices)
  local rows = {}
  read_rows(run, indices, function(_, row) rows[#rows + 1] = row end)
  return rows
end

-- The sampledHistory rule: rows in [lo, hi] that have every key; each row only those keys
-- (and _step); then sampled.
local function sampled(run, lo, hi, keys, samples)
  local need, uniq, seen = {}, {}, {}
  for _, k in ipairs(keys) do
    if not seen[k] then seen[k] = true; uniq[#uniq + 1] = k end
    if k ~= "_step" then need[#need + 1] = k end
  end
  for _, k in ipairs(need) do if not run.keys[k] then return {} end end
  local indices = {}
  for i = lo, hi do indices[#indices + 1] = i end
  local picked = {}
  read_rows(run, indices, function(_, row)
    for _, k in ipairs(need) do if row[k] == nil then return end end
    local r = {}
    for _, k in ipairs(uniq) do r[k] = row[k] end
    picked[#picked + 1] = r
  end)
  local out = {}
  for _, i in ipairs(sample_indices(#picked, samples)) do out[#out + 1] = picked[i] end
  return out
end

-- }======

M.read_stats, M.sample_indices, M.lower_bound, M.rows_of, M.sampled = read_stats, sample_indices, lower_bound, rows_of, sampled

return M
