-- The registry of effect kinds: every side effect runwatch can have, one entry each. An entry
-- says how its payload (plain data, storable in the outbox) is checked, where it goes (the
-- destination that delivery limits and backs off), how it is shown (dry run, log, audit), how
-- it is performed, and what a delivery does after an ambiguous failure (one where the other side
-- may or may not have acted: a crash mid-request, a truncated answer):
--   repeat  perform it again: repeating is harmless (absolute writes) or the receiver can tell
--           (webhooks carry the same Idempotency-Key every time)
--   check   look first, and perform again only if it did not happen (a notes append)
--   drop    never repeat it (W&B alerts, Slack messages, run deletion): at most once
-- Artifacts: artifact_alias, artifact_unalias, artifact_update, artifact_delete.
-- Adding a kind is one entry here plus its test; effects.lua owns the path they all take.
local json = require "runwatch.json"
local http = require "runwatch.http"
local retry = require "runwatch.retry"
local run_changes = require "runwatch.run_changes"
local artifact_queries = require "runwatch.wb.artifact_queries"

local K = {}

local function null(v) if v == json.null then return nil end return v end

local function split(path)
  local e, p, id = path:match("^([^/]+)/([^/]+)/([^/]+)$")
  if not e then error("bad run path '" .. tostring(path) .. "'", 3) end
  return e, p, id
end

local function not_found(path)
  return setmetatable({message = "Could not find run " .. path, op = "Run", retryable = false},
    require("runwatch.errors").CommError)
end

local function check_run(p, level)
  if type(p.run) ~= "string" then error("an effect on a run needs the run's path", level + 1) end
  if type(p.api) ~= "string" then error("an effect on a run needs its api", level + 1) end
end

local function strings(list, what, level)
  if type(list) ~= "table" or #list == 0 then error(what .. ": at least one string expected", level + 1) end
  for i, v in ipairs(list) do
    if type(v) ~= "string" then error(string.format("%s: item %d is a %s, not a string", what, i, type(v)), level + 1) end
  end
end

-- {====== run writes: a change set applied on a fresh read (run_changes), one UpsertBucket

-- fresh read of the run, or a not-found CommError
local function fresh_run(p, d)
  local e, pr, id = split(p.run)
  local attrs = d.backend:run(e, pr, id, true)
  if not attrs then error(not_found(p.run), 0) end
  return attrs
end

-- preview/perform of a change set: {attrs = what the server holds after, lines = plan lines}
local function write_change(p, d, change, dry)
  local fresh = fresh_run(p, d)
  local plan = run_changes.plan(change, fresh, p.run)
  if dry or plan.n == 0 then return {attrs = fresh, lines = plan.lines, unchanged = plan.n == 0} end
  if d.before_write then d.before_write(plan) end
  d.backend:write_run(fresh.storage_id, plan.set)
  return {attrs = run_changes.applied(fresh, plan), lines = plan.lines}
end

local function run_kind(entry)
  entry.dest = entry.dest or function(p) return "wandb:" .. p.api end
  entry.target = entry.target or function(p) return p.run end
  entry.preview = entry.preview or function(p, d) return write_change(p, d, entry.change(p), true).lines end
  entry.perform = entry.perform or function(p, d) return write_change(p, d, entry.change(p)) end
  return entry
end

K.update = run_kind{
  verb = "update", on_ambiguous = "repeat",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.change) ~= "table" then error("update: a change set expected", level + 1) end
  end,
  change = function(p) return p.change end,
  detail = function(p, res) return res and res.lines and table.concat(res.lines, "\n") or
    (run_changes.size(p.change) .. " change(s)") end,
}

K.tag = run_kind{
  verb = "tag", on_ambiguous = "repeat",
  check = function(p, level) check_run(p, level + 1); strings(p.tags, "tag", level + 1) end,
  change = function(p) return {tags_added = p.tags} end,
  detail = function(p) return "+" .. table.concat(p.tags, " +") end,
}

K.untag = run_kind{
  verb = "untag", on_ambiguous = "repeat",
  check = function(p, level) check_run(p, level + 1); strings(p.tags, "untag", level + 1) end,
  change = function(p) return {tags_removed = p.tags} end,
  detail = function(p) return "-" .. table.concat(p.tags, " -") end,
}

K.annotate = run_kind{
  verb = "annotate", on_ambiguous = "repeat",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.kv) ~= "table" or next(p.kv) == nil then error("annotate: a table of summary keys expected", level + 1) end
  end,
  change = function(p) return {summary_set = p.kv} end,
  detail = function(p) return json.encode(p.kv, {sort_keys = true}) end,
}

K.config = run_kind{
  verb = "config", on_ambiguous = "repeat",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.kv) ~= "table" or next(p.kv) == nil then error("config: a table of config keys expected", level + 1) end
  end,
  change = function(p) return {config_set = p.kv} end,
  detail = function(p) return json.encode(p.kv, {sort_keys = true}) end,
}

-- A notes append is a read-modify-write: repeating it blindly would append the line twice. The
-- notes text about to be written is kept with the delivery (d.save_progress) before the write;
-- a later delivery that finds the notes already starting with that text knows it happened.
K.note = run_kind{
  verb = "note", on_ambiguous = "check",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.line) ~= "string" then error("note: a string expected", level + 1) end
  end,
  change = function(p) return {notes_append = p.line} end,
  detail = function(p) return p.line end,
  perform = function(p, d)
    local sent = d.progress and d.progress.notes
    if sent then
      local fresh = fresh_run(p, d)
      local cur = null(fresh.notes) or ""
      if cur:sub(1, #sent) == sent then return {attrs = fresh, lines = {}, already = true} end
    end
    local dd = setmetatable({before_write = function(plan)
      if d.save_progress then d.save_progress({notes = plan.set.notes}) end
    end}, {__index = d})
    return write_change(p, dd, {notes_append = p.line})
  end,
}

-- }======

-- {====== W&B alerts and deletions: not idempotent, nothing to check: at most once

local LEVELS = {INFO = true, WARN = true, ERROR = true}

K.wandb_alert = {
  verb = "wandb-alert", on_ambiguous = "drop",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.title) ~= "string" or p.title == "" then error("alert needs a title", level + 1) end
    if not LEVELS[p.level] then error("bad alert level '" .. tostring(p.level) .. "' (INFO, WARN or ERROR)", level + 1) end
    if p.text ~= nil and type(p.text) ~= "string" then error("alert text must be a string", level + 1) end
    if type(p.wait) ~= "number" then error("alert wait must be a number of seconds", level + 1) end
  end,
  dest = function(p) return "wandb:" .. p.api end,
  target = function(p) return p.run end,
  detail = function(p) return p.level .. ": " .. p.title .. ((p.text and p.text ~= "") and (" -- " .. p.text) or "") end,
  preview = function(p) return {"  " .. p.level .. ": " .. p.title .. ((p.text and p.text ~= "") and (" -- " .. p.text) or "")} end,
  perform = function(p, d)
    local e, pr, id = split(p.run)
    local ok = d.backend:alert({entityName = e, projectName = pr, runName = id, title = p.title,
      text = p.text or "", severity = p.level, waitDuration = math.floor(p.wait * 1000)})
    if not ok then return nil, {message = "W&B did not accept the alert", retryable = false} end
    return true
  end,
}

K.delete = {
  verb = "delete", on_ambiguous = "drop",
  check = function(p, level)
    check_run(p, level + 1)
    if type(p.storage_id) ~= "string" then error("delete: the run's storage id expected", level + 1) end
  end,
  dest = function(p) return "wandb:" .. p.api end,
  target = function(p) return p.run end,
  detail = function(p) return p.artifacts and "with artifacts" or "artifacts kept" end,
  preview = function(p) return {"  artifacts: " .. (p.artifacts and "deleted too" or "kept")} end,
  perform = function(p, d) d.backend:delete_run(p.storage_id, p.artifacts); return true end,
}

-- }======

-- {====== artifact writes (issue 16): alias mutations and UpdateArtifact set absolute values, so
-- repeating one is harmless (repeat); a version's deletion is at most once (drop). Payloads name
-- the version by id and by "entity/project/collection:vN" (the target), as AddAliases needs both.

local function check_artifact(p, level)
  if type(p.api) ~= "string" then error("an artifact effect needs its api", level + 1) end
  for _, k in ipairs({"id", "artifact", "entity", "project", "collection"}) do
    if type(p[k]) ~= "string" or p[k] == "" then error("an artifact effect needs the artifact's " .. k, level + 1) end
  end
end

-- an alias the SDK would accept (no '/' or ':', at most 128 characters) and not a version ("v3")
local function check_alias(a, what, level)
  if type(a) ~= "string" then error(what .. ": an alias must be a string, not a " .. type(a), level + 1) end
  if a == "" then error(what .. ": an alias cannot be empty", level + 1) end
  if #a > 128 then error(what .. ": alias '" .. a:sub(1, 20) .. "...' is longer than 128 characters", level + 1) end
  if a:find("[/:]") then error(what .. ": alias '" .. a .. "' contains '/' or ':'", level + 1) end
  if a:match("^v%d+$") then error(what .. ": '" .. a .. "' is a version, not an alias (versions cannot be moved)", level + 1) end
end
K.check_alias = check_alias

local function alias_input(p)
  local list = {}
  for i, a in ipairs(p.aliases) do
    list[i] = {alias = a, artifactCollectionName = p.collection, entityName = p.entity, projectName = p.project}
  end
  return {input = {aliases = list, artifactID = p.id}}
end

-- where an alias is now ("coll:v3"), or nil
local function alias_holder(p, d, alias)
  local data = d.backend:gql(artifact_queries.ArtifactMembershipByName, {entity = p.entity, project = p.project,
    name = p.collection .. ":" .. alias}, {op = "ArtifactMembershipByName"})
  local proj = null(data.project)
  local m = proj and null(proj.artifactCollectionMembership)
  return m and (p.collection .. ":v" .. tostring(m.versionIndex)) or nil
end

local function alias_kind(verb, doc, op, sign)
  return {
    verb = verb, on_ambiguous = "repeat",
    check = function(p, level)
      check_artifact(p, level + 1)
      if type(p.aliases) ~= "table" or #p.aliases == 0 then error(verb .. ": at least one alias expected", level + 1) end
      for _, a in ipairs(p.aliases) do check_alias(a, verb, level + 1) end
    end,
    dest = function(p) return "wandb:" .. p.api end,
    target = function(p) return p.artifact end,
    detail = function(p) return sign .. table.concat(p.aliases, " " .. sign) end,
    preview = function(p, d)
      local out = {}
      for _, a in ipairs(p.aliases) do
        local now = alias_holder(p, d, a)
        out[#out + 1] = "  aliases: " .. sign .. a .. (now and (" (now on " .. now .. ")") or " (held by no version)")
      end
      return out
    end,
    perform = function(p, d)
      local data = d.backend:gql(doc, alias_input(p), {op = op})
      local r = null(data.result)
      if not r or r.success ~= true then return nil, {message = op .. " was not accepted", retryable = false} end
      return {aliases = p.aliases}
    end,
  }
end

K.artifact_alias = alias_kind("alias", artifact_queries.AddAliases, "AddAliases", "+")
K.artifact_unalias = alias_kind("unalias", artifact_queries.DeleteAliases, "DeleteAliases", "-")

local function fresh_artifact(p, d)
  local data = d.backend:gql(artifact_queries.ArtifactByID, {id = p.id}, {op = "ArtifactByID"})
  local a = null(data.artifact)
  if not a or a.state == "DELETED" then
    error(setmetatable({message = "artifact " .. p.artifact .. " not found", op = "ArtifactByID", retryable = false},
      require("runwatch.errors").CommError), 0)
  end
  return a
end

local function decoded_metadata(text)
  text = null(text)
  local v = text and text ~= "" and json.decode(text) or nil
  return type(v) == "table" and v or {}
end

local function show(v) if v == nil then return "(unset)" end return json.encode(v, {sort_keys = true}) end

-- the change on a fresh read: {input = UpdateArtifactInput, lines = plan}; metadata key-level
local function artifact_change(p, fresh)
  local input, lines = {artifactID = p.id}, {}
  if p.description ~= nil and p.description ~= null(fresh.description) then
    input.description = p.description
    lines[#lines + 1] = "  description: " .. show(null(fresh.description)) .. " -> " .. show(p.description)
  end
  local meta, changed = decoded_metadata(fresh.metadata), false
  local keys = {}
  for k in pairs(p.metadata_set or {}) do keys[#keys + 1] = k end
  for _, k in ipairs(p.metadata_remove or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local new = (p.metadata_set or {})[k]
    if show(meta[k]) ~= show(new) then
      lines[#lines + 1] = "  metadata." .. k .. ": " .. show(meta[k]) .. " -> " .. show(new)
      meta[k] = new
      changed = true
    end
  end
  if changed then input.metadata = json.encode(json.object(meta)) end
  local have = {}
  for _, t in ipairs(null(fresh.tags) or {}) do have[t.name] = true end
  local add, del = json.array({}), json.array({})
  for _, t in ipairs(p.tags_add or {}) do
    if not have[t] then add[#add + 1] = {tagName = t}; lines[#lines + 1] = "  tags: +" .. t end
  end
  for _, t in ipairs(p.tags_remove or {}) do
    if have[t] then del[#del + 1] = {tagName = t}; lines[#lines + 1] = "  tags: -" .. t end
  end
  input.tagsToAdd, input.tagsToDelete = add, del
  return {input = input, lines = lines, n = #lines}
end

K.artifact_update = {
  verb = "artifact-update", on_ambiguous = "repeat",
  check = function(p, level)
    check_artifact(p, level + 1)
    if p.description ~= nil and type(p.description) ~= "string" then error("artifact update: description must be a string", level + 1) end
    if p.metadata_set ~= nil and type(p.metadata_set) ~= "table" then error("artifact update: metadata must be a table", level + 1) end
    for k in pairs(p.metadata_set or {}) do
      if type(k) ~= "string" then error("artifact update: metadata keys must be strings", level + 1) end
    end
    for _, k in ipairs(p.metadata_remove or {}) do
      if type(k) ~= "string" then error("artifact update: metadata keys must be strings", level + 1) end
    end
    for _, t in ipairs(p.tags_add or {}) do
      if type(t) ~= "string" or not t:match("^[%w_%-]+[%w_%- ]*$") or #t > 128 then
        error("artifact update: tag " .. tostring(t) .. " is not letters, digits, '-', '_' and spaces", level + 1)
      end
    end
  end,
  dest = function(p) return "wandb:" .. p.api end,
  target = function(p) return p.artifact end,
  detail = function(p, res)
    if res and res.lines then return #res.lines > 0 and table.concat(res.lines, "\n") or "(nothing to change)" end
    return "description/metadata/tags"
  end,
  preview = function(p, d)
    local c = artifact_change(p, fresh_artifact(p, d))
    return c.n > 0 and c.lines or {"  (nothing to change)"}
  end,
  perform = function(p, d)
    local c = artifact_change(p, fresh_artifact(p, d))
    if c.n == 0 then return {lines = c.lines, unchanged = true} end
    local data = d.backend:gql(artifact_queries.UpdateArtifact, {input = c.input}, {op = "UpdateArtifact"})
    local r = null(data.result)
    return {lines = c.lines, node = r and null(r.artifact)}
  end,
}

K.artifact_delete = {
  verb = "artifact-delete", on_ambiguous = "drop",
  check = function(p, level)
    check_artifact(p, level + 1)
    if type(p.delete_aliases) ~= "boolean" then error("artifact delete: delete_aliases must be a boolean", level + 1) end
  end,
  dest = function(p) return "wandb:" .. p.api end,
  target = function(p) return p.artifact end,
  detail = function(p) return p.delete_aliases and "aliases deleted too" or "aliases kept" end,
  preview = function(p) return {"  aliases: " .. (p.delete_aliases and "deleted too" or "kept (W&B refuses while the version has aliases)")} end,
  perform = function(p, d)
    d.backend:gql(artifact_queries.DeleteArtifact, {input = {artifactID = p.id, deleteAliases = p.delete_aliases}},
      {op = "DeleteArtifact", idempotent = false})
    return true
  end,
}

-- }======

-- {====== Slack and webhooks: POSTs with the webhook retry policy

local function origin(url) return url:match("^(https?://[^/?#]+)") or "webhook" end

-- Webhook bodies are strict JSON for the receiving service: NaN and infinities become the
-- strings "NaN", "Infinity", "-Infinity" (a bare NaN token would make the whole body unreadable).
local function strict(v)
  if type(v) == "number" then
    if v ~= v then return "NaN" end
    if v == math.huge then return "Infinity" end
    if v == -math.huge then return "-Infinity" end
    return v
  end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = strict(x) end
  return setmetatable(out, getmetatable(v))
end
K.strict = strict

local CONNECT_FAILED = {[6] = true, [7] = true}   -- CURLE_COULDNT_RESOLVE_HOST / _CONNECT

-- POST with the webhook policy -> true, or nil and {message, retryable, sent_maybe, status}
local function post(url, body, headers, what, idempotent)
  return retry.call("webhook", function(_, timeout)
    local res, err, code = http.post(url, strict(body), {headers = headers, timeout = math.min(30, timeout)})
    if res and res.status >= 200 and res.status < 300 then return true end
    if res then
      return nil, {message = what .. ": HTTP " .. res.status, status = res.status, headers = res.headers,
        retryable = retry.retryable_status("webhook", res.status),
        sent_maybe = false}   -- the receiver answered that it did not take it
    end
    return nil, {message = what .. ": " .. tostring(err), retryable = retry.retryable_transport(code, err),
      sent_maybe = not CONNECT_FAILED[code]}
  end, {idempotent = idempotent, label = what .. " " .. origin(url)})
end

local function check_url(u, what, level)
  if type(u) ~= "string" or not u:match("^https?://[^/?#%s]+") then
    error(what .. " needs an http:// or https:// URL (got " .. (type(u) == "string" and string.format("%q", u) or type(u)) .. ")", level + 1)
  end
end
K.check_url = check_url

local function check_headers(h, what, level)
  if h == nil then return end
  if type(h) ~= "table" then error(what .. ": headers must be a table", level + 1) end
  for k, v in pairs(h) do
    if type(k) ~= "string" or type(v) ~= "string" then error(what .. ": headers must map strings to strings", level + 1) end
  end
end

K.slack = {
  verb = "slack", on_ambiguous = "drop",        -- Slack cannot deduplicate: never post twice
  check = function(p, level)
    check_url(p.url, "slack", level + 1)
    if type(p.text) ~= "string" then error("slack: the text must be a string", level + 1) end
    check_headers(p.headers, "slack", level + 1)
  end,
  dest = function(p) return origin(p.url) end,
  target = function() return "slack" end,
  detail = function(p) return p.text end,
  preview = function(p) return {"  " .. p.text} end,
  perform = function(p, d)
    local headers = {["Idempotency-Key"] = d.key}
    for k, v in pairs(p.headers or {}) do headers[k] = v end
    return post(p.url, {text = p.text}, headers, "slack", false)
  end,
}

K.webhook = {
  verb = "webhook", on_ambiguous = "repeat",    -- the same Idempotency-Key every time
  check = function(p, level)
    check_url(p.url, "webhook", level + 1)
    check_headers(p.headers, "webhook", level + 1)
  end,
  dest = function(p) return origin(p.url) end,
  target = function(p) return origin(p.url) end,
  detail = function(p)
    return type(p.body) == "table" and json.encode(strict(p.body), {sort_keys = true}) or tostring(p.body)
  end,
  preview = function(p)
    return {"  POST " .. origin(p.url) .. " " .. (type(p.body) == "table" and
      json.encode(strict(p.body), {sort_keys = true}) or tostring(p.body))}
  end,
  perform = function(p, d)
    local headers = {["Idempotency-Key"] = d.key}
    for k, v in pairs(p.headers or {}) do headers[k] = v end
    return post(p.url, p.body, headers, "webhook", true)
  end,
}

-- }======

-- {====== a rule's own notify function: at least once (it gets alert.key to deduplicate)

K.call = {
  verb = "notify", on_ambiguous = "repeat",
  check = function(p, level)
    if type(p.fn) ~= "string" then error("notify: a registered function name expected", level + 1) end
  end,
  dest = function(p) return "function:" .. p.fn end,
  target = function(p) return p.run or p.fn end,
  detail = function(p) return p.fn .. " " .. tostring(p.alert and p.alert.transition) end,
  preview = function(p) return {"  call " .. p.fn .. " (" .. tostring(p.alert and p.alert.transition) .. ")"} end,
  perform = function(p, d)
    local fn = d.functions[p.fn]
    if not fn then return nil, {message = "notify function " .. p.fn .. " no longer exists", retryable = false} end
    local run = p.run and d.api and d.api.run(p.run) or nil
    local alert = {}
    for k, v in pairs(p.alert or {}) do alert[k] = v end
    alert.key = d.key
    fn(alert, run)
    return true
  end,
}

-- }======

return K
