-- A lazy, paged list: list[i], #list, ipairs(list) and list:iter() fetch pages as they are
-- reached (the next page is fetched while the script works through the current one). Used for
-- runs, projects and files. fetch(cursor) -> {nodes, cursor, has_next, count} or nil (missing).
-- With opts.key, an element whose key was already listed is skipped: a server that pages by
-- position repeats elements when the list changes between two pages (W&B does, for runs).
local task = require "runwatch.task"

local M = {}
local Paged = {}
local MT = {__name = "runwatch.Paged"}

-- new(fetch, wrap, opts) -> list; wrap(node) makes the element; opts.name for tostring,
-- opts.per_page for the prefetch point, opts.methods extra methods, opts.keep = false to
-- stream: elements of pages already passed are released (constant memory for one pass, but for
-- the keys already listed; going back raises); opts.key(node) -> the node's identity
function M.new(fetch, wrap, opts)
  opts = opts or {}
  return setmetatable({_ = {fetch = fetch, wrap = wrap, list = {}, count = nil, cursor = nil,
    has_next = true, pending = nil, per_page = opts.per_page or 50, name = opts.name or "list",
    methods = opts.methods or {}, keep = opts.keep ~= false, base = 0, total = 0,
    key = opts.key, seen = opts.key and {} or nil}}, MT)
end

local function st(self) return rawget(self, "_") end

-- Takes the next page: the prefetched one if any, else fetched now.
local function next_page(s)
  if not s.has_next then return false end
  local page
  if s.pending then
    local slot = s.pending
    s.pending = nil
    local ok, err = slot.task:wait()
    if not ok then error(slot.task.errvalue or err, 0) end
    page = slot.page
  else
    page = s.fetch(s.cursor)
  end
  if not page then
    s.has_next, s.count = false, 0
    return false
  end
  s.count = page.count or s.count
  if not s.keep then
    -- streaming: drop what was passed; indexes stay global (base = elements released)
    s.base = s.total
    s.list = {}
  end
  local seen, key = s.seen, s.key
  for _, node in ipairs(page.nodes) do
    local k = key and key(node)
    if k == nil or not seen[k] then
      if k ~= nil then seen[k] = true end
      -- streaming keeps the nodes and wraps each when it is reached (see get)
      s.list[#s.list + 1] = s.keep and s.wrap(node) or node
      s.total = s.total + 1
    end
  end
  s.cursor = page.cursor
  s.has_next = page.has_next and #page.nodes > 0
  if not s.has_next and not page.count then s.count = s.total end
  return true
end

local function start_prefetch(s)
  if s.pending or not s.has_next or s.total == 0 then return end
  local slot = {}
  local cursor = s.cursor
  slot.task = task.new(function() slot.page = s.fetch(cursor) end, {quiet = true})
  s.pending = slot
end

local function get(self, i)
  local s = st(self)
  if not s.keep then
    -- streaming: element i is wrapped when reached and released when the next one is, so a
    -- processed element (and what the script cached on it) is garbage once the script drops it
    if i == s.pos then return s.last end
    if i <= s.base or i < (s.pos or 0) then
      error(string.format("%s streams (keep = false): element %d was released; iterate once, in order", s.name, i), 3)
    end
  end
  while i > s.total and s.has_next do
    if not next_page(s) then break end
  end
  if i > s.total - s.per_page // 2 then start_prefetch(s) end
  local v = s.list[i - s.base]
  if not s.keep and v ~= nil then
    s.list[i - s.base] = false
    v = s.wrap(v)
    s.pos, s.last = i, v
  end
  return v
end

MT.__index = function(self, k)
  if math.type(k) == "integer" then
    if k < 1 then return nil end
    return get(self, k)
  end
  local s = st(self)
  return s.methods[k] or Paged[k]
end

MT.__newindex = function(self) error(st(self).name .. " is read-only", 2) end

-- #list: the server's count when it gives one (one request), else everything is loaded
MT.__len = function(self)
  local s = st(self)
  if s.count == nil then next_page(s) end
  if s.count == nil then
    while s.has_next do next_page(s) end
    s.count = s.total
  end
  return s.count or 0
end

MT.__pairs = function(self)
  return function(t, i)
    i = i + 1
    local v = t[i]
    if v ~= nil then return i, v end
  end, self, 0
end

MT.__tostring = function(self)
  local s = st(self)
  return string.format("<%s (%d loaded)>", s.name, s.total)
end

-- list:iter() -> for x in list:iter() do ... end
function Paged.iter(self)
  local i = 0
  return function()
    i = i + 1
    return self[i]
  end
end

-- list:load_all() -> a plain Lua list of every element
function Paged.load_all(self)
  local out = {}
  for x in Paged.iter(self) do out[#out + 1] = x end
  return out
end

function Paged.loaded(self) return st(self).total end

-- list:known_count() -> the server's count once a page arrived (no request), else nil
function Paged.known_count(self) return st(self).count end

-- list:stream() -> a new list over the same query, streamed (keep = false): one pass in order,
-- from the first element, without filling this list's cache
function Paged.stream(self)
  local s = st(self)
  return M.new(s.fetch, s.wrap, {per_page = s.per_page, name = s.name, methods = s.methods, keep = false,
    key = s.key})
end

M.MT = MT
return M
