-- What a script changed on a run, as plain data (a "change set"), and how a change set is applied
-- on top of a fresh read of the run: the plan that run:update() and the run-writing effect kinds
-- (tag, untag, annotate, note, ...) send, key by key, so a concurrent writer's other keys survive
-- and untouched values stay bit-identical. Pure functions on run records (fields.lua): no network, no effects.
local json = require "runwatch.json"
local diff = require "runwatch.diff"
local fields = require "runwatch.fields"

local M = {}

local INTERNAL_CONFIG = {_wandb = true, wandb_version = true}
-- script-facing scalar fields a script may set -> the record field that holds them (fields.lua)
M.SETTABLE = {name = "name", display_name = "name", notes = "notes",
  description = "description", group = "group", job_type = "job_type"}
local SCALAR_ORDER = {"description", "group", "job_type", "name", "notes"}

local function null(v) if v == json.null then return nil end return v end

-- decode(text, what, path) -> table: a config or summary JSON object (fields.decode_object)
M.decode = fields.decode_object

-- The unwrapped view of a raw config: {lr = 0.1} from {"lr": {"value": 0.1, "desc": null}}
function M.unwrap(raw)
  local out = {}
  for k, v in pairs(raw) do
    if not INTERNAL_CONFIG[k] then
      if type(v) == "table" and not json.is_array(v) and v.value ~= nil then out[k] = v.value
      else out[k] = v end
    end
  end
  return out
end

local function count(t) local n = 0 for _ in pairs(t or {}) do n = n + 1 end return n end

-- of(s, path) -> change set, or nil when nothing changed. s is a Run's internals: attrs (as
-- loaded), over (scalars set), tags/config/summary (the script's views, when it read them).
-- A change set: {scalars = {k = v | json.null}, tags_added, tags_removed, config_set,
-- config_removed, summary_set, summary_removed, notes_append}
function M.of(s, path)
  local c, n = {scalars = {}}, 0
  for k, v in pairs(s.over) do
    local field = M.SETTABLE[k]
    if field and k ~= "display_name" then
      if null(s.attrs[field]) ~= null(v) then c.scalars[k] = v; n = n + 1 end
    end
  end
  if s.tags then
    c.tags_added, c.tags_removed = diff.tags(null(s.attrs.tags) or {}, s.tags)
    n = n + #c.tags_added + #c.tags_removed
  end
  if s.config then
    local orig = M.unwrap(M.decode(s.attrs.config, "config", path))
    c.config_set, c.config_removed = diff.keys(orig, s.config)
    n = n + #c.config_removed + count(c.config_set)
  end
  if s.summary then
    local orig = M.decode(s.attrs.summary, "summary", path)
    c.summary_set, c.summary_removed = diff.keys(orig, s.summary)
    n = n + #c.summary_removed + count(c.summary_set)
  end
  return n > 0 and c or nil
end

-- size(change) -> how many keys, tags and fields it changes
function M.size(c)
  return count(c.scalars) + #(c.tags_added or {}) + #(c.tags_removed or {}) + count(c.config_set) +
    #(c.config_removed or {}) + count(c.summary_set) + #(c.summary_removed or {}) + (c.notes_append and 1 or 0)
end

-- plan(change, fresh, path) -> {lines = {"  key: old -> new", ...}, set = {...}, n = fields}.
-- set holds the new values of only the changed fields, in script terms: name, notes,
-- description, group, job_type (strings or json.null), tags (array), config and summary (the
-- whole merged JSON text). The backend turns it into one write.
function M.plan(c, fresh, path)
  local p = {lines = {}, set = {}, n = 0}
  local function line(s) p.lines[#p.lines + 1] = s end
  local scalars = {}
  for k, v in pairs(c.scalars or {}) do scalars[k] = v end
  if c.notes_append then
    local cur = null(scalars.notes) or null(fresh.notes)
    scalars.notes = (cur and cur ~= "" and (cur:sub(-1) == "\n" and cur or cur .. "\n") or "") .. c.notes_append
  end
  for _, k in ipairs(SCALAR_ORDER) do
    local v = scalars[k]
    if v ~= nil then
      p.set[k] = v
      p.n = p.n + 1
      line(string.format("  %s: %s -> %s", k, diff.show(null(fresh[M.SETTABLE[k]])), diff.show(null(v))))
    end
  end
  local added, removed = c.tags_added or {}, c.tags_removed or {}
  if #added + #removed > 0 then
    local drop, out, seen = {}, {}, {}
    for _, t in ipairs(removed) do drop[t] = true end
    for _, t in ipairs(null(fresh.tags) or {}) do
      if not drop[t] and not seen[t] then out[#out + 1] = t; seen[t] = true end
    end
    for _, t in ipairs(added) do if not seen[t] then out[#out + 1] = t; seen[t] = true end end
    p.set.tags = json.array(out)
    p.n = p.n + 1
    local parts = {}
    for _, t in ipairs(added) do parts[#parts + 1] = "+" .. t end
    for _, t in ipairs(removed) do parts[#parts + 1] = "-" .. t end
    line("  tags: " .. table.concat(parts, " "))
  end
  local function merge(kind, set, rem, fresh_json, wrap)
    if not set and not rem then return end
    set, rem = set or {}, rem or {}
    if #rem + count(set) == 0 then return end
    local raw = M.decode(fresh_json, kind, path)
    local view = wrap and M.unwrap(raw) or raw
    local ks = {}
    for k in pairs(set) do ks[#ks + 1] = k end
    for _, k in ipairs(rem) do ks[#ks + 1] = k end
    table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(ks) do
      local new = set[k]
      line(string.format("  %s.%s: %s -> %s", kind, tostring(k), diff.show(view[k]), new == nil and "(removed)" or diff.show(new)))
      if new == nil then raw[k] = nil
      elseif wrap then
        local old = raw[k]
        local desc = (type(old) == "table" and not json.is_array(old) and old.value ~= nil) and old.desc or json.null
        raw[k] = {value = new, desc = desc == nil and json.null or desc}
      else raw[k] = new end
    end
    return raw
  end
  local cfg = merge("config", c.config_set, c.config_removed, fresh.config, true)
  if cfg then p.set.config = json.encode(cfg); p.n = p.n + 1 end
  local sm = merge("summary", c.summary_set, c.summary_removed, fresh.summary, false)
  if sm then p.set.summary = json.encode(sm); p.n = p.n + 1 end
  return p
end

-- applied(fresh, plan) -> fresh with the plan's values in it: what the server holds after the
-- write (the run object shows it without another read)
function M.applied(fresh, p)
  local s = p.set
  if s.config then fresh.config = s.config end
  if s.summary then fresh.summary = s.summary end
  if s.tags then fresh.tags = s.tags end
  for k, field in pairs(M.SETTABLE) do
    if s[k] ~= nil and k ~= "display_name" then fresh[field] = s[k] end
  end
  return fresh
end

return M
