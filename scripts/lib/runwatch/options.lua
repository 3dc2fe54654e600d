-- Option tables given by scripts (every, after, cron, http, Api, watch, rule, actions): one check
-- that refuses an unknown name at the script's line and names the closest known one, so a typo
-- such as `imediate = true` never passes silently.
local M = {}

-- Levenshtein distance, bounded: names are short, and anything over 3 is no suggestion anyway
local function distance(a, b)
  if #a > 40 or #b > 40 then return math.huge end
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = ca == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

local function sorted_names(known)
  local names = {}
  for n in pairs(known) do names[#names + 1] = n end
  table.sort(names)
  return names
end

-- suggestion(name, known) -> the known name closest to `name` (at most 2 edits away), or nil
function M.suggestion(name, known)
  if type(name) ~= "string" then return nil end
  local best, bestd
  for _, n in ipairs(sorted_names(known)) do
    local d = distance(name:lower(), n:lower())
    if d <= 2 and d < #n and (not bestd or d < bestd) then best, bestd = n, d end
  end
  return best
end

-- check(where, t, known, level): raises `where: unknown option "x" (did you mean "y"?; known:
-- a, b, c)` for the first unknown key of t (in sorted order, so the message is the same every
-- run). known is a set {name = true}; level is the error level as seen by check's caller;
-- prefix names a nested table's options in the message ("stale." -> unknown option "stale.flor").
function M.check(where, t, known, level, prefix)
  local unknown
  for k in pairs(t) do
    if not known[k] then
      local s = tostring(k)
      if not unknown or s < unknown then unknown = s end
    end
  end
  if not unknown then return t end
  local hint = M.suggestion(unknown, known)
  prefix = prefix or ""
  error(string.format("%s: unknown option %q (%sknown: %s)", where, prefix .. unknown,
    hint and string.format("did you mean %q? ", prefix .. hint) or "", table.concat(sorted_names(known), ", ")),
    (level or 1) + 1)
end

-- set{"a", "b"} -> {a = true, b = true}
function M.set(list)
  local s = {}
  for _, n in ipairs(list) do s[n] = true end
  return s
end

return M
