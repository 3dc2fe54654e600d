-- The one table of run fields: for each field its script-facing name, the GraphQL Run field it
-- comes from, how scripts see it, under which column it is filtered and ordered, whether watch
-- polls and exports carry it, and how the local backend derives it. Getters (run.lua), the SDK's
-- fragments and the watch poll (wb/), filter columns (filters.lua, local/match.lua), export
-- columns and the local backend's records are all made from it. Adding a run field is one row
-- here (plus the test server, when W&B has it). See docs/architecture.md, "Run fields".
--
-- A run *record* (what every backend returns for a run, docs/backends.md) is a plain table keyed
-- by these names: values as the server has them (json.null for null; absent = not asked for),
-- config/summary/system_metrics as JSON object text (or an already decoded table).
local json = require "runwatch.json"
local core = require "runwatch.core"

local M = {}
local NULL = json.null

local function null(v) if v == NULL then return nil end return v end

local function iso(t)
  if not t then return nil end
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t))
end

-- {====== the rows
-- name      the script-facing name: run.NAME, the record key, the export column
-- also      more script names for the same value (run.display_name)
-- gql       the Run field of the GraphQL schema (wb/ builds the query text); sub: its subfields
-- sdk       in the SDK's fragments: "light" (LightweightRunFragment and RunFragment), "full"
--           (RunFragment only), "node" (beside the fragment: projectId). Rows are in the SDK's
--           fragment order, so the fragments are made from them byte for byte.
-- optional  not in the reference schema: in no fragment; asked for on first read, one small query,
--           only where the server's schema has it (backend:field), else derive(record) or nil
-- view      how a Run shows it: nil (the value, null -> nil), "tags", "object" (a JSON object,
--           decoded on first use: summary, system_metrics), "config" (unwrapped {value, desc}),
--           "user", "last_step", "runtime", "list", "computed" (get(run internals)); false: no
--           getter (a filter column only)
-- watch     carried by the watch poll (WatchRuns / WatchRunsByName)
-- export    a column of exports: true, or "section" (config.K, summary.K, system_metrics.K)
-- filter    the column filters and order use: {server column, aliases...}; section: the prefix
-- date      compared as a time (filters, local evaluation)
-- loc       how the local backend derives it from the facts L of a local run (local/backend.lua
--           builds L: id, entity, project, storage_id, rec (the run record: display_name, notes,
--           group, job_type, sweep_id, git_commit, host, tags), state, heartbeat, created (epoch
--           seconds), config, summary, system_metrics (JSON texts), rows, last_step, runtime,
--           user, exit_code, liveness, pid, errors, offline, dir, files)
M.FIELDS = {
  {name = "storage_id", gql = "id", sdk = "light", watch = true, export = true,
    loc = function(L) return L.storage_id end},
  {name = "tags", gql = "tags", sdk = "light", view = "tags", watch = true, export = true, filter = {"tags"},
    loc = function(L) return L.rec.tags end},
  {name = "id", gql = "name", sdk = "light", watch = true, export = true, filter = {"name", "id"},
    loc = function(L) return L.id end},
  {name = "name", also = {"display_name"}, gql = "displayName", sdk = "light", watch = true, export = true,
    filter = {"displayName", "display_name"},
    loc = function(L) local n = L.rec.display_name return (n and n ~= "") and n or L.id end},
  {name = "sweep_name", gql = "sweepName", sdk = "light", watch = true, export = true,
    filter = {"sweep", "sweepName", "sweep_name"}, loc = function(L) return L.rec.sweep_id or NULL end},
  {name = "state", gql = "state", sdk = "light", watch = true, export = true, filter = {"state"},
    loc = function(L) return L.state end},
  {name = "config", gql = "config", sdk = "full", view = "config", export = "section", section = "config",
    loc = function(L) return L.config end},
  {name = "group", gql = "group", sdk = "light", watch = true, export = true, filter = {"group"},
    loc = function(L) return L.rec.group or NULL end},
  {name = "job_type", gql = "jobType", sdk = "light", watch = true, export = true, filter = {"jobType", "job_type"},
    loc = function(L) return L.rec.job_type or NULL end},
  {name = "commit", gql = "commit", sdk = "light", export = true, filter = {"commit"},
    loc = function(L) return L.rec.git_commit or NULL end},
  {name = "read_only", gql = "readOnly", sdk = "light", export = true, loc = function() return true end},
  {name = "created_at", gql = "createdAt", sdk = "light", watch = true, export = true, date = true,
    filter = {"createdAt", "created_at"}, loc = function(L) return iso(L.created) or NULL end},
  {name = "heartbeat_at", gql = "heartbeatAt", sdk = "light", watch = true, export = true, date = true,
    filter = {"heartbeatAt", "heartbeat_at"}, loc = function(L) return iso(L.heartbeat) or NULL end},
  {name = "description", gql = "description", sdk = "light", export = true, filter = {"description"},
    loc = function(L) return L.rec.notes or NULL end},
  {name = "notes", gql = "notes", sdk = "light", watch = true, export = true, filter = {"notes"},
    loc = function(L) return L.rec.notes or NULL end},
  {name = "system_metrics", gql = "systemMetrics", sdk = "full", view = "object", export = "section",
    section = "system_metrics", loc = function(L) return L.system_metrics end},
  {name = "summary", also = {"summary_metrics"}, gql = "summaryMetrics", sdk = "full", view = "object", watch = true,
    export = "section", section = "summary", loc = function(L) return L.summary end},
  {name = "history_line_count", gql = "historyLineCount", sdk = "light", watch = true, export = true,
    loc = function(L) return L.rows end},
  {name = "user", gql = "user", sub = {"name", "username"}, sdk = "light", view = "user", watch = true, export = true,
    filter = {"username"}, loc = function(L) return {name = L.user or NULL, username = L.user or NULL} end},
  {name = "last_step", gql = "historyKeys", sdk = "full", view = "last_step", export = true,
    loc = function(L) return L.last_step or -1 end},
  {name = "project_id", gql = "projectId", sdk = "node", export = true, loc = function() return NULL end},
  {name = "updated_at", gql = "updatedAt", optional = true, export = true, date = true,
    filter = {"updatedAt", "updated_at"}, loc = function(L) return iso(L.heartbeat) or NULL end,
    derive = function(rec) return null(rec.heartbeat_at) or null(rec.created_at) end},
  {name = "runtime", view = "runtime", export = true, filter = {"duration"},
    loc = function(L) return L.runtime or NULL end},
  {name = "host", view = false, filter = {"host"}, loc = function(L) return L.rec.host or NULL end},
  -- facts of local runs (docs/local.md); nil on W&B runs
  {name = "exit_code", export = true, loc = function(L) return L.exit_code or NULL end},
  {name = "liveness", export = true, loc = function(L) return L.liveness end},
  {name = "writer_pid", export = true, loc = function(L) return L.pid end},
  {name = "error_count", export = true, loc = function(L) return L.errors end},
  {name = "offline", export = true, loc = function(L) return L.offline end},
  {name = "local_dir", export = true, loc = function(L) return L.dir end},
  {name = "local_files", view = "list", loc = function(L) return L.files end},
  -- a Run's own properties (its api and path), not a record's
  {name = "entity", view = "computed", export = true, get = function(s) return s.entity end},
  {name = "project", view = "computed", export = true, get = function(s) return s.project end},
  {name = "path", view = "computed", export = true,
    get = function(s) return s.entity .. "/" .. s.project .. "/" .. s.attrs.id end},
  {name = "url", view = "computed", export = true, get = function(s)
    return s.api.backend:app_url() .. "/" .. s.entity .. "/" .. s.project .. "/runs/" .. s.attrs.id end},
}

M.BY_NAME = {}
for _, f in ipairs(M.FIELDS) do
  M.BY_NAME[f.name] = f
  for _, a in ipairs(f.also or {}) do M.BY_NAME[a] = f end
end

-- }======

-- {====== what the consumers take from the rows

-- filter/order columns: every alias -> the server's column name; section prefixes
M.FILTER_COLUMNS, M.FILTER_FIELD, M.DATE_COLUMNS, M.SECTIONS = {}, {}, {}, {}
for _, f in ipairs(M.FIELDS) do
  if f.filter then
    for _, alias in ipairs(f.filter) do
      M.FILTER_COLUMNS[alias] = f.filter[1]
      M.FILTER_FIELD[alias] = f
    end
    if f.date then M.DATE_COLUMNS[f.filter[1]] = true end
  end
  if f.section then M.SECTIONS[f.section] = f end
end

-- the GraphQL fields of a group of rows, in table order: "light", "full" (the SDK's fragments),
-- "watch" (the watch poll). Each {gql =, sub =}.
function M.gql_fields(which)
  local out = {}
  for _, f in ipairs(M.FIELDS) do
    local take
    if which == "light" then take = f.sdk == "light"
    elseif which == "full" then take = f.sdk == "light" or f.sdk == "full"
    elseif which == "watch" then take = f.watch end
    if take then out[#out + 1] = {gql = f.gql, sub = f.sub, optional = f.optional} end
  end
  return out
end

-- export columns: name -> row (every name and alias of a row with `export`); the columns a
-- runs query without config/summary answers (the light fragment, or a Run's own properties)
M.EXPORT, M.LIGHT = {}, {}
for _, f in ipairs(M.FIELDS) do
  if f.export == true then
    for _, n in ipairs({f.name, table.unpack(f.also or {})}) do
      M.EXPORT[n] = f
      if f.sdk == "light" or f.sdk == "node" or f.view == "computed" then M.LIGHT[n] = true end
    end
  end
end

-- }======

-- {====== records

-- The last step of a summary JSON text: its "_step" (the SDK keeps it current), found without
-- decoding the whole summary; a summary the cheap look cannot read (encoded twice, spaced) is
-- decoded. nil when there is none.
local function summary_step(text)
  if type(text) == "table" then return math.tointeger(text._step) end
  if type(text) ~= "string" or not text:find("_step", 1, true) then return nil end
  local step = text:match('^%s*{.-"_step"%s*:%s*(%-?%d+)%s*[,}]')
  if step then return math.tointeger(tonumber(step)) end
  local ok, v = pcall(M.decode_object, text, "summary", "?")
  return ok and math.tointeger(v._step) or nil
end

-- from_node(node) -> record: a GraphQL Run node (the fields it carries) in script terms; made in
-- C at its final size (core.rename), once per run per tick
local GQL_NAMES     -- GraphQL name -> script name, for the rows that have one (made on first use)
function M.from_node(node)
  if node == nil or node == NULL then return nil end
  if not GQL_NAMES then
    GQL_NAMES = {}
    for _, f in ipairs(M.FIELDS) do if f.gql then GQL_NAMES[f.gql] = f.name end end
  end
  local r = core.rename(node, GQL_NAMES)
  local hk = r.last_step                -- historyKeys {lastStep}: the last step
  if hk ~= nil then
    hk = null(hk)
    r.last_step = type(hk) == "table" and math.tointeger(null(hk.lastStep)) or nil
  end
  return r
end

-- from_local(L) -> record: a local run's facts in script terms (each row's `loc`)
function M.from_local(L)
  local r = {}
  for _, f in ipairs(M.FIELDS) do
    if f.loc then
      local v = f.loc(L)
      if v ~= nil then r[f.name] = v end
    end
  end
  return r
end

-- last_step(record) -> the last step a record tells without another request: its last_step
-- (historyKeys), else its summary's _step; -1 when neither (what a watch compares)
function M.last_step(rec)
  return math.tointeger(null(rec.last_step)) or summary_step(null(rec.summary)) or -1
end

-- summary_text(record) -> the raw summary, compared as it is to tell a change (no decoding)
function M.summary_text(rec)
  local s = null(rec.summary)
  if type(s) == "table" then return json.encode(s, {sort_keys = true}) end
  return s
end

-- }======

-- {====== decoding

local JSON_KIND = {number = "a JSON number", boolean = "a JSON boolean", string = "a JSON string"}

-- decode_object(text, what, path) -> table: a config or summary JSON object. A JSON string
-- holding a JSON object (the object encoded twice: a server quirk seen on crashed runs) is that
-- object, as the Python API's users see it; JSON null is empty. Anything else raises a CommError
-- (op "decode") naming the run and the reason.
function M.decode_object(s, what, path)
  if s == nil or s == NULL then return {} end
  if type(s) == "table" then return s end
  local err
  if type(s) ~= "string" then
    err = type(s) .. " instead of a JSON string"
  else
    local v, derr = json.decode(s)
    if type(v) == "table" then return v end
    if v == NULL then return {} end
    if type(v) == "string" then
      local inner = json.decode(v)
      if type(inner) == "table" and not json.is_array(inner) then return inner end
      err = "a JSON string that holds no JSON object"
    elseif v ~= nil then
      err = JSON_KIND[type(v)] .. ", not an object"
    else
      err = tostring(derr):gsub("^json: ", "")
    end
  end
  error(require("runwatch.errors").new({message = string.format("malformed %s JSON for run %s: %s", what, path, err),
    op = "decode", exc = err}), 3)
end

-- }======

return M
