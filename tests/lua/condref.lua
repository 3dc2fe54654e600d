-- An independent reference for tests of declarative rules: given a run's rows and a simple
-- threshold rule (aggregate of the last n values compared with x; for = 0), the notifications
-- the lifecycle must send: {transition, value, step}, one per crossing. Written from the README's
-- semantics, not from the library's code.
local M = {}

local function agg(name, vals)
  if name == "last" then return vals[#vals] end
  if name == "avg" then
    local s = 0
    for _, v in ipairs(vals) do s = s + v end
    return s / #vals
  end
  for _, v in ipairs(vals) do if v ~= v then return v end end
  local m = vals[1]
  for _, v in ipairs(vals) do if (name == "min" and v < m) or (name == "max" and v > m) then m = v end end
  return m
end
M.agg = agg

local CMP = {gt = function(a, b) return a > b end, lt = function(a, b) return a < b end,
  gte = function(a, b) return a >= b end, lte = function(a, b) return a <= b end}

-- the change of the last value against the one before: {by, relative, direction}
local function change(vals, c)
  if #vals < 2 then return false, nil end
  local a, b = vals[#vals], vals[#vals - 1]
  local d = a - b
  if c.relative then
    if b == 0 then d = d == 0 and 0.0 or (d > 0 and math.huge or -math.huge) else d = d / math.abs(b) end
  end
  if d ~= d then return false, d end
  if c.direction == "increase" then return d >= c.by, d elseif c.direction == "decrease" then return d <= -c.by, d end
  return math.abs(d) >= c.by, d
end

-- transitions(rows, {key, agg, n, cmp, x, from} or {key, change = {by, relative, direction}})
-- -> list of {transition, value, step}: rows in step order; values of `key` that are numbers
-- count; rows before step `from` only fill the window
function M.transitions(rows, r)
  local vals, out, firing, last_true = {}, {}, false, nil
  for _, row in ipairs(rows) do
    local v = row[r.key]
    if type(v) == "number" then
      vals[#vals + 1] = v
      if row._step >= (r.from or 0) then
        local cond, val = false, nil
        if r.change then
          cond, val = change(vals, r.change)
        elseif #vals >= r.n then
          val = agg(r.agg, {table.unpack(vals, #vals - r.n + 1, #vals)})
          cond = CMP[r.cmp](val, r.x)
        end
        if cond and not firing then
          firing = true
          out[#out + 1] = {transition = "firing", value = val, step = row._step}
        elseif not cond and firing then
          firing = false
          out[#out + 1] = {transition = "resolved", value = last_true, step = row._step}
        end
        if cond then last_true = val end
      end
    end
  end
  return out
end

-- same(a, b): numbers equal to 1e-12 relative, NaN equal to NaN or "NaN"
function M.same(a, b)
  if a == "NaN" then a = 0 / 0 end
  if b == "NaN" then b = 0 / 0 end
  if type(a) ~= "number" or type(b) ~= "number" then return a == b end
  if a ~= a then return b ~= b end
  if a == b then return true end
  return math.abs(a - b) <= 1e-12 * math.max(math.abs(a), math.abs(b))
end

return M
