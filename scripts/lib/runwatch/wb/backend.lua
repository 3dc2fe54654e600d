-- The W&B GraphQL backend behind the Lua API: each method sends one operation through the
-- client and returns plain Lua data; runs as run records in script terms (fields.lua). The
-- contract both backends keep is docs/backends.md; the local-runs backend (runwatch/local)
-- offers the same methods.
local Q = require "runwatch.wb.queries"
local client_mod = require "runwatch.wb.client"
local settings_mod = require "runwatch.wb.settings"
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local fields = require "runwatch.fields"

local M = {}
local B = {}
B.__index = B
B.kind = "wandb"

function M.new(overrides, opts)
  local s = settings_mod.resolve(overrides)
  local b = setmetatable({settings = s, opts = opts or {}}, B)
  b.client = client_mod.new(s, opts)
  return b
end

local function null(v) if v == json.null then return nil end return v end

function B:gql(query, vars, opts) return self.client:graphql(query, vars, opts) end

-- A run node must look like one: a table with string id and name, config and summaries as
-- JSON strings (or absent). Anything else is a malformed answer: a CommError, not an error from
-- deep inside the library.
local function check_node(r, op)
  if r == nil or r == json.null then return nil end
  local ok = type(r) == "table" and type(r.id) == "string" and type(r.name) == "string"
  if ok then
    for _, f in ipairs({"config", "summaryMetrics", "systemMetrics"}) do
      local v = r[f]
      if v ~= nil and v ~= json.null and type(v) ~= "string" then ok = false end
    end
  end
  if not ok then
    errors.raise({message = "malformed run in the W&B answer (" .. op .. ")", op = op, exc = r}, 3)
  end
  return fields.from_node(r)
end

-- The app URL for run links, as the SDK derives it (WANDB_APP_URL, api.wandb.X -> wandb.X).
function B:app_url()
  local env = os.getenv("WANDB_APP_URL")
  if env and env ~= "" then return (env:gsub("/+$", "")) end
  local base = self.settings.base_url
  local app = base:gsub("^(https?://)api%.wandb%.", "%1wandb.")
  if app == base then app = base:gsub("://api%.", "://app.") end
  return app
end

-- default_entity() -> the viewer's entity (one GetDefaultEntity query)
function B:default_entity()
  local data = self:gql(Q.DEFAULT_ENTITY, {}, {op = "GetDefaultEntity"})
  local v = null(data.viewer)
  if not v or not null(v.entity) then
    errors.raise({message = "could not determine the default entity (no viewer); set WANDB_ENTITY"}, 2)
  end
  return v.entity
end

function B:viewer()
  local data = self:gql(Q.GET_VIEWER, {}, {op = "GetViewer"})
  return null(data.viewer)
end

-- run(e, p, id, full) -> run record, or nil when the project or run does not exist
function B:run(entity, project, id, full, opts)
  local data = self:gql(full == false and Q.RUN_LAZY or Q.RUN_FULL,
    {project = project, entity = entity, name = id},
    {op = "Run", timeout = opts and opts.timeout, deadline = opts and opts.timeout})
  local p = null(data.project)
  if p ~= nil and type(p) ~= "table" then errors.raise({message = "malformed project in the W&B answer (Run)", op = "Run"}, 2) end
  return check_node(p and p.run, "Run")
end

-- runs_page(e, p, {filters = json string, order, per_page, cursor, full}) ->
--   {count, nodes = {...}, cursor = last edge cursor, has_next} or nil when the project is missing
function B:runs_page(entity, project, o)
  local vars = {project = project, entity = entity, order = o.order, filters = o.filters,
    perPage = o.per_page, cursor = o.cursor or json.null}
  local data = self:gql(o.full == false and Q.RUNS_LAZY or Q.RUNS_FULL, vars, {op = "Runs", timeout = o.timeout, deadline = o.timeout})
  local p = null(data.project)
  if not p then return nil end
  local conn = null(p.runs) or {edges = {}, pageInfo = {hasNextPage = false}}
  local nodes, last = {}, nil
  for i, edge in ipairs(conn.edges) do
    nodes[i] = check_node(edge.node, "Runs")
    last = edge.cursor
  end
  return {count = null(p.runCount) or #nodes, nodes = nodes, cursor = last,
    has_next = conn.pageInfo and conn.pageInfo.hasNextPage == true and last ~= nil}
end

-- answers with history rows: the rows (JSON texts) are decoded with the answer, in C, without
-- making a string of each; decode_rows takes what is already a table as it is
local ROWS = {json_strings = "history"}

local function decode_rows(list)
  local rows = {}
  for i, s in ipairs(list or {}) do
    if type(s) == "string" then
      local row, err = json.decode(s)
      if type(row) ~= "table" then
        errors.raise({message = "malformed history row from W&B: " .. tostring(err)}, 3)
      end
      rows[i] = row
    elseif type(s) == "table" then
      rows[i] = s
    else      -- a row that is not an object (5, null): malformed, whether decoded in place or not
      errors.raise({message = "malformed history row from W&B: " .. (s == json.null and "null" or tostring(s))}, 3)
    end
  end
  return rows
end

-- {====== exact values in keyed history
-- W&B's sampledHistory answer is inline JSON, where NaN and ±Infinity cannot be written: they come
-- back as null. The keyed rows holding a null are read again as full rows (JSON strings, which
-- keep them), by step ranges, many ranges in one request, and their values are taken from there.
-- Rows without nulls (the common case) cost nothing more.

local function has_null(v, depth)
  if v == json.null then return true end
  if type(v) == "table" and depth < 32 then
    for _, x in pairs(v) do if has_null(x, depth + 1) then return true end end
  end
  return false
end

-- Keyed rows whose steps are at most GAP apart are read again as one range (the rows between
-- them that lack a key come along and are dropped); RANGES ranges go in one request.
local GAP, RANGES = 16, 100

function B:exact_rows(entity, project, id, rows, keys)
  local ranges, cur = {}, nil
  for i, r in ipairs(rows) do
    local s = math.tointeger(r._step)
    local bad = false
    if s then for _, k in ipairs(keys) do if has_null(r[k], 0) then bad = true break end end end
    if bad then
      if cur and s > cur.last and s - cur.last <= GAP then cur.last = s; cur.rows[#cur.rows + 1] = i
      else cur = {first = s, last = s, rows = {i}}; ranges[#ranges + 1] = cur end
    end
  end
  for c = 1, #ranges, RANGES do
    local decl, body, vars = {"$entity: String!", "$project: String!", "$name: String!"}, {},
      {entity = entity, project = project, name = id}
    local last = math.min(c + RANGES - 1, #ranges)
    for j = c, last do
      local rg = ranges[j]
      decl[#decl + 1] = string.format("$a%d: Int64!, $b%d: Int64!, $s%d: Int", j, j, j)
      vars["a" .. j], vars["b" .. j], vars["s" .. j] = rg.first, rg.last + 1, rg.last - rg.first + 1
      body[#body + 1] = string.format("      h%d: history(minStep: $a%d, maxStep: $b%d, samples: $s%d)", j, j, j, j)
    end
    local q = "query ExactHistory(" .. table.concat(decl, ", ") .. ") {\n  project(name: $project, entityName: $entity) {\n" ..
      "    run(name: $name) {\n" .. table.concat(body, "\n") .. "\n    }\n  }\n}\n"
    local data = self:gql(q, vars, {op = "ExactHistory"})
    local run = null(data.project) and null(data.project.run)
    for j = c, last do
      local by_step = {}
      for _, full in ipairs(run and decode_rows(null(run["h" .. j])) or {}) do
        local s = math.tointeger(full._step)
        if s then by_step[s] = full end
      end
      for _, i in ipairs(ranges[j].rows) do
        local r = rows[i]
        local full = by_step[math.tointeger(r._step)]
        if full then
          for _, k in ipairs(keys) do if full[k] ~= nil then r[k] = full[k] end end
        end
      end
    end
  end
  return rows
end

-- }======

-- history(e, p, id, {keys, samples, stream, x_axis}) -> rows
function B:history(entity, project, id, o)
  local vars = {project = project, entity = entity, name = id}
  if o.keys then
    local keys = {o.x_axis or "_step"}
    for _, k in ipairs(o.keys) do if k ~= keys[1] then keys[#keys + 1] = k end end
    -- the step locates a row whose values must be read again (exact_rows); dropped afterwards
    -- when the script did not ask for it
    local extra_step = keys[1] ~= "_step"
    for _, k in ipairs(o.keys) do if k == "_step" then extra_step = false end end
    if extra_step then keys[#keys + 1] = "_step" end
    vars.specs = json.array({json.encode({keys = json.array(keys), samples = o.samples}, {python = true})})
    local data = self:gql(Q.SAMPLED_HISTORY, vars, {op = "RunSampledHistory"})
    local run = null(data.project) and null(data.project.run)
    if not run then return nil end
    local sh = null(run.sampledHistory)
    local rows = sh and null(sh[1]) or {}
    self:exact_rows(entity, project, id, rows, keys)
    if extra_step then for _, r in ipairs(rows) do r._step = nil end end
    return rows
  end
  vars.samples = o.samples
  local system = o.stream == "system" or o.stream == "events"
  local data = self:gql(system and Q.FULL_EVENTS or Q.FULL_HISTORY, vars, {op = "RunFullHistory", decode = not system and ROWS or nil})
  local run = null(data.project) and null(data.project.run)
  if not run then return nil end
  return decode_rows(system and run.events or run.history)
end

-- last_step(e, p, id) -> historyKeys.lastStep (-1 when none)
function B:last_step(entity, project, id)
  local data = self:gql(Q.HISTORY_KEYS, {project = project, entity = entity, name = id}, {op = "RunHistoryKeys"})
  local run = null(data.project) and null(data.project.run)
  local hk = run and null(run.historyKeys)
  return hk and tonumber(null(hk.lastStep)) or -1
end

-- history_page(e, p, id, {min_step, max_step (exclusive), page_size, keys}) -> rows
function B:history_page(entity, project, id, o)
  if o.keys then
    local keys = {"_step"}
    for _, k in ipairs(o.keys) do if k ~= "_step" then keys[#keys + 1] = k end end
    -- the backend treats sampledHistory's maxStep as inclusive: ask for [min, max - 1]
    local spec = json.encode({keys = json.array(keys), minStep = o.min_step, maxStep = o.max_step - 1,
      samples = o.page_size}, {python = true})
    local data = self:gql(Q.SAMPLED_HISTORY_PAGE, {entity = entity, project = project, run = id, spec = spec},
      {op = "SampledHistoryPage"})
    local run = null(data.project) and null(data.project.run)
    local sh = run and null(run.sampledHistory)
    return self:exact_rows(entity, project, id, sh and null(sh[1]) or {}, keys)
  end
  local data = self:gql(Q.HISTORY_PAGE, {entity = entity, project = project, run = id,
    minStep = o.min_step, maxStep = o.max_step, pageSize = o.page_size}, {op = "HistoryPage", decode = ROWS})
  local run = null(data.project) and null(data.project.run)
  return decode_rows(run and run.history)
end

-- upsert(input vars, declared {name = type}) -- one UpsertBucket with only the given fields
function B:upsert(vars, fields)
  local decl, inputs = {"$id: String!"}, {"id: $id"}
  for _, f in ipairs(fields) do
    decl[#decl + 1] = "$" .. f.var .. ": " .. f.type
    inputs[#inputs + 1] = f.input .. ": $" .. f.var
  end
  local q = "mutation UpsertBucket(" .. table.concat(decl, ", ") .. ") {\n  upsertBucket(input: {" ..
    table.concat(inputs, ", ") .. "}) {\n    bucket {\n      id\n    }\n  }\n}\n"
  local data = self:gql(q, vars, {op = "UpsertBucket"})
  local bucket = null(data.upsertBucket) and null(data.upsertBucket.bucket)
  if not bucket or not null(bucket.id) then
    errors.raise({message = "UpsertBucket returned no bucket", op = "UpsertBucket"}, 2)
  end
  return bucket
end

-- write_run(storage_id, set) -- one UpsertBucket carrying only the fields in set, which are in
-- script terms (run_changes.plan): name, notes, description, group, job_type, tags, config and
-- summary (whole JSON texts). The GraphQL input names live here only.
local UPSERT_INPUTS = {
  name = {"display_name", "displayName", "String"}, notes = {"notes", "notes", "String"},
  description = {"description", "description", "String"}, group = {"groupName", "groupName", "String"},
  job_type = {"jobType", "jobType", "String"}, tags = {"tags", "tags", "[String!]"},
  config = {"config", "config", "JSONString"}, summary = {"summaryMetrics", "summaryMetrics", "JSONString"},
}
local UPSERT_ORDER = {"name", "notes", "description", "group", "job_type", "tags", "config", "summary"}
function B:write_run(id, set)
  local vars, fields = {id = id}, {}
  for _, k in ipairs(UPSERT_ORDER) do
    local v = set[k]
    if v ~= nil then
      local f = UPSERT_INPUTS[k]
      vars[f[1]] = v
      fields[#fields + 1] = {var = f[1], input = f[2], type = f[3]}
    end
  end
  for k in pairs(set) do
    if not UPSERT_INPUTS[k] then error("write_run: unknown field '" .. tostring(k) .. "'", 2) end
  end
  return self:upsert(vars, fields)
end

-- alert(vars) -> true (NotifyScriptableRunAlert; not retried once it may have been delivered)
function B:alert(vars)
  local data = self:gql(Q.NOTIFY_ALERT, vars, {op = "NotifyScriptableRunAlert", idempotent = false})
  local r = null(data.notifyScriptableRunAlert)
  return r and r.success == true
end

-- files(e, p, id, {names, pattern, per_page, cursor}) -> {count, nodes, cursor, has_next}
function B:files(entity, project, id, o)
  local vars = {project = project, entity = entity, name = id,
    fileNames = json.array(o.names or {}), upload = false, pattern = o.pattern or json.null,
    fileLimit = o.per_page or 50, fileCursor = o.cursor or json.null}
  local data = self:gql(Q.RUN_FILES, vars, {op = "RunFiles"})
  local run = null(data.project) and null(data.project.run)
  if not run then return nil end
  local conn = null(run.files) or {edges = {}, pageInfo = {}}
  local nodes, last = {}, nil
  for i, e in ipairs(conn.edges) do nodes[i] = null(e.node); last = e.cursor end
  return {count = null(run.fileCount), nodes = nodes, cursor = last,
    has_next = conn.pageInfo and conn.pageInfo.hasNextPage == true and last ~= nil}
end

function B:download(url, opts) return self.client:download(url, opts) end

-- projects_page(entity, {per_page, cursor}) -> {nodes, cursor, has_next}
function B:projects_page(entity, o)
  local data = self:gql(Q.PROJECTS, {entity = entity, cursor = o.cursor or json.null, perPage = o.per_page},
    {op = "Projects"})
  local conn = null(data.models) or {edges = {}, pageInfo = {}}
  local nodes, last = {}, nil
  for _, e in ipairs(conn.edges) do
    local n = null(e.node)
    if n then nodes[#nodes + 1] = n end
    last = e.cursor
  end
  return {nodes = nodes, cursor = last, has_next = conn.pageInfo.hasNextPage == true and last ~= nil}
end

-- sweep(e, p, name) -> sweep attrs or nil (GetSweep, falling back to GetSweepLegacy as the SDK does)
function B:sweep(entity, project, name)
  local ok, data = pcall(self.gql, self, Q.GET_SWEEP, {name = name, project = project, entity = entity}, {op = "GetSweep"})
  if not ok then
    data = self:gql(Q.GET_SWEEP_LEGACY, {name = name, project = project, entity = entity}, {op = "GetSweepLegacy"})
  end
  local p = null(data.project)
  return p and null(p.sweep)
end

-- delete_run(storage_id, artifacts) -- not retried once it may have been applied
function B:delete_run(id, artifacts)
  self:gql(Q.DELETE_RUN, {id = id, deleteArtifacts = artifacts and true or false},
    {op = "DeleteRun", idempotent = false})
  return true
end

-- budget_status() -> the request budget of this backend's host (for runwatch status)
function B:budget_status() return self.client.bucket:status() end

-- run_fields() -> set of the Run fields the server's schema has (one introspection query per
-- backend). A server that refuses introspection (a GraphQL error) gives an empty set: then only
-- the reference schema's fields are used. A network failure raises and is asked again later.
function B:run_fields()
  if self.schema_run_fields == nil then
    local ok, data = pcall(self.gql, self, Q.RUN_FIELDS, {}, {op = "RunFields"})
    if not ok and not (errors.is(data) and data.errors) then error(data, 0) end
    local set = {}
    local ty = ok and type(data) == "table" and null(data.__type)
    if type(ty) == "table" and type(ty.fields) == "table" then
      for _, f in ipairs(ty.fields) do
        if type(f) == "table" and type(f.name) == "string" then set[f.name] = true end
      end
    end
    self.schema_run_fields = set
  end
  return self.schema_run_fields
end

-- field(e, p, id, name, rec) -> the value of an optional run field (fields.lua: one that is in no
-- fragment because the reference schema lacks it, e.g. updated_at): asked for where this server's
-- schema has it (one small query), else derived from the record as its row says, else nil
function B:field(entity, project, id, name, rec)
  local f = fields.BY_NAME[name]
  if not f or not f.gql then error("field: no GraphQL field for '" .. tostring(name) .. "'", 2) end
  if self:run_fields()[f.gql] then
    local op = "Run" .. f.gql:sub(1, 1):upper() .. f.gql:sub(2)
    local q = "query " .. op .. "($project: String!, $entity: String!, $name: String!) {\n" ..
      "  project(name: $project, entityName: $entity) {\n    run(name: $name) {\n      " .. f.gql .. "\n    }\n  }\n}\n"
    local data = self:gql(q, {project = project, entity = entity, name = id}, {op = op})
    local run = null(data.project) and null(data.project.run)
    return run and null(run[f.gql])
  end
  if f.derive then return f.derive(rec or {}) end
  return nil
end

-- {====== Batched operations for watches: few requests per tick, whatever the number of runs

-- Only the fields a watch tick needs (fields.lua's `watch` rows: no config, no historyKeys):
-- config loads lazily.
local function selection(list)
  local lines = {}
  for _, f in ipairs(list) do
    if f.sub then
      lines[#lines + 1] = f.gql .. " {"
      for _, sf in ipairs(f.sub) do lines[#lines + 1] = "  " .. sf end
      lines[#lines + 1] = "}"
    else
      lines[#lines + 1] = f.gql
    end
  end
  return table.concat(lines, "\n")
end

-- The watch poll's selection: the `watch` rows, but an optional one (not in the reference
-- schema) only where this server's schema has it
function B:watch_fields()
  if not self.watch_selection then
    local list, have = {}, nil
    for _, f in ipairs(fields.gql_fields("watch")) do
      if f.optional then have = have or self:run_fields() end
      if not f.optional or have[f.gql] then list[#list + 1] = f end
    end
    self.watch_selection = selection(list)
  end
  return self.watch_selection
end

local function indent(text, n)
  local pad = string.rep(" ", n)
  return (text:gsub("[^\n]+", function(l) return pad .. l end))
end

local function watch_runs(sel)
  return "query WatchRuns($project: String!, $entity: String!, $cursor: String, $perPage: Int, " ..
    "$order: String, $filters: JSONString) {\n  project(name: $project, entityName: $entity) {\n" ..
    "    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {\n      edges {\n" ..
    "        node {\n" .. indent(sel, 10) .. "\n        }\n        cursor\n      }\n" ..
    "      pageInfo {\n        endCursor\n        hasNextPage\n      }\n    }\n  }\n}\n"
end

-- watch_page(e, p, {filters, per_page, cursor, order}) -> {nodes, cursor, has_next} or nil
function B:watch_page(entity, project, o)
  local data = self:gql(watch_runs(self:watch_fields()), {project = project, entity = entity, filters = o.filters,
    perPage = o.per_page, cursor = o.cursor or json.null, order = o.order or "+created_at"}, {op = "WatchRuns"})
  local p = null(data.project)
  if not p then return nil end
  local conn = null(p.runs) or {edges = {}, pageInfo = {}}
  local nodes, last = {}, nil
  for i, edge in ipairs(conn.edges) do nodes[i] = check_node(edge.node, "WatchRuns"); last = edge.cursor end
  return {nodes = nodes, cursor = last, has_next = conn.pageInfo.hasNextPage == true and last ~= nil}
end

-- runs_by_name(e, p, ids) -> {id = node or nil}: many runs in one request (aliases)
function B:runs_by_name(entity, project, ids)
  local out = {}
  if #ids == 0 then return out end
  local decl, body, vars = {"$entity: String!", "$project: String!"}, {}, {entity = entity, project = project}
  for i, id in ipairs(ids) do
    decl[#decl + 1] = "$n" .. i .. ": String!"
    vars["n" .. i] = id
    body[#body + 1] = "    r" .. i .. ": run(name: $n" .. i .. ") {\n" .. indent(self:watch_fields(), 6) .. "\n    }"
  end
  local q = "query WatchRunsByName(" .. table.concat(decl, ", ") .. ") {\n  project(name: $project, entityName: $entity) {\n" ..
    table.concat(body, "\n") .. "\n  }\n}\n"
  local data = self:gql(q, vars, {op = "WatchRunsByName"})
  local p = null(data.project)
  if not p then return out end
  for i, id in ipairs(ids) do out[id] = check_node(null(p["r" .. i]), "WatchRunsByName") end
  return out
end

-- history_batch(e, p, specs) -> {id = rows}: new rows of many runs in one request, each spec
-- {id, min_step, max_step (exclusive), samples}. One alias per run.
function B:history_batch(entity, project, specs)
  local out = {}
  if #specs == 0 then return out end
  local decl, body, vars = {"$entity: String!", "$project: String!"}, {}, {entity = entity, project = project}
  for i, sp in ipairs(specs) do
    decl[#decl + 1] = string.format("$n%d: String!, $a%d: Int64!, $b%d: Int64!, $s%d: Int", i, i, i, i)
    vars["n" .. i], vars["a" .. i], vars["b" .. i], vars["s" .. i] = sp.id, sp.min_step, sp.max_step, sp.samples
    body[#body + 1] = string.format("    r%d: run(name: $n%d) {\n      history(minStep: $a%d, maxStep: $b%d, samples: $s%d)\n    }", i, i, i, i, i)
  end
  local q = "query WatchHistory(" .. table.concat(decl, ", ") .. ") {\n  project(name: $project, entityName: $entity) {\n" ..
    table.concat(body, "\n") .. "\n  }\n}\n"
  local data = self:gql(q, vars, {op = "WatchHistory", decode = ROWS})
  local p = null(data.project)
  if not p then return out end
  for i, sp in ipairs(specs) do
    local r = null(p["r" .. i])
    out[sp.id] = r and decode_rows(r.history) or nil
  end
  return out
end

-- }======

return M
