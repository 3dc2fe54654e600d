-- Progress on long work: a one-line bar on stderr (done/total, rate, ETA) when stderr is a terminal, nothing on a pipe.
--
-- progress.wanted(opt [, to_stdout]) -> boolean, forced: opt true/false forces it; otherwise
--   RW_PROGRESS=1/0, else on when stderr is a terminal (and stdout is not the same terminal
--   carrying data). `forced` is true when asked for explicitly (then no `delay` applies).
-- progress.new{unit = "runs", extra = "rows"?, enabled = bool, delay = s?} -> bar or nil when
--   disabled. bar.done, bar.total (nil: unknown), bar.extra_count; bar:draw([final]) redraws at
--   most 5 times a second, and not before `delay` seconds (work that ends sooner shows nothing);
--   bar:note(text [, final]) shows a free text line instead of the bar; bar:finish() draws the
--   final line if the bar was ever shown; bar:clear() erases it (a transient bar).
-- The ETA is shown only once it means something: at least MIN_ITEMS items done and MIN_SECONDS
-- elapsed since the first one (the first items carry start-up costs -- connection, first page --
-- so a rate taken from them predicts nonsense). Until then the bar says "ETA --:--".
local core = require "runwatch.core"

local M = {}

M.MIN_ITEMS = 5
M.MIN_SECONDS = 1.0

function M.wanted(opt, to_stdout)
  if opt == false then return false end
  if opt == true then return true, true end
  local env = os.getenv("RW_PROGRESS")
  if env == "1" then return true, true end
  if env == "0" then return false end
  local ok, err_tty = pcall(core.isatty, 2)
  if not ok or not err_tty then return false end
  -- data and bar on one terminal would mix
  if to_stdout then
    local ok2, out_tty = pcall(core.isatty, 1)
    if ok2 and out_tty then return false end
  end
  return true
end

function M.thousands(n)
  local s = string.format("%d", math.floor(n))
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end

function M.clock(s)
  if not s or s ~= s or s == math.huge or s < 0 then return "--:--" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%d:%02d:%02d", s // 3600, s % 3600 // 60, s % 60) end
  return string.format("%d:%02d", s // 60, s % 60)
end

local Bar = {}
Bar.__index = Bar

function M.new(o)
  o = o or {}
  if not o.enabled then return nil end
  local clock = o.clock or core.monotonic
  return setmetatable({t0 = clock(), last = -1, done = 0, extra_count = 0, total = o.total,
    unit = o.unit or "items", extra = o.extra, first_at = nil, first_done = 0, delay = o.delay or 0,
    clock = clock, out = o.out or io.stderr}, Bar)
end

-- eta(now) -> seconds left, or nil while there is no sane estimate. The rate is measured from
-- the moment the first item was done, so start-up time does not count against it.
function Bar:eta(now)
  if not self.total or self.done <= 0 then return nil end
  if not self.first_at then return nil end
  local n = self.done - self.first_done
  local el = now - self.first_at
  if self.done < M.MIN_ITEMS or n <= 0 or el < M.MIN_SECONDS then return nil end
  return math.max(0, self.total - self.done) / (n / el)
end

-- observe(now): remember when the first item was done (the ETA's rate starts there).
function Bar:observe(now)
  if self.done > 0 and not self.first_at then self.first_at, self.first_done = now, self.done end
end

function Bar:line(now, final)
  self:observe(now)
  local el = now - self.t0
  local rate = el > 0 and self.done / el or 0
  local parts = {}
  local th = M.thousands
  if self.total and self.total > 0 then
    local frac = math.min(1, self.done / self.total)
    local w = 24
    local fill = math.floor(frac * w + 0.5)
    parts[#parts + 1] = string.format("[%s%s] %3d%% %s/%s %s", string.rep("#", fill), string.rep(".", w - fill),
      math.floor(frac * 100), th(self.done), th(self.total), self.unit)
  else
    parts[#parts + 1] = th(self.done) .. " " .. self.unit
  end
  if self.extra then parts[#parts + 1] = th(self.extra_count) .. " " .. self.extra end
  parts[#parts + 1] = string.format("%s %s/s", th(rate), self.unit)
  if final then
    parts[#parts + 1] = "in " .. M.clock(el)
  elseif self.total then
    parts[#parts + 1] = "ETA " .. M.clock(self:eta(now))
  end
  return table.concat(parts, "  ")
end

function Bar:draw(final)
  local now = self.clock()
  self:observe(now)
  if not final and (now - self.last < 0.2 or now - self.t0 < self.delay) then return end
  self.last = now
  self.out:write("\r", self:line(now, final), "\27[K", final and "\n" or "")
end

function Bar:finish()
  if self.last >= 0 then self:draw(true) end
end

function Bar:clear()
  if self.last >= 0 then self.out:write("\r\27[K") end
  self.last = -1
end

function Bar:note(text, final)
  local now = self.clock()
  if not final and now - self.last < 0.2 then return end
  self.last = now
  self.out:write("\r", text, "\27[K", final and "\n" or "")
end

return M
