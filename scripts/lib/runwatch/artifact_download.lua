-- An artifact version's files onto disk: the manifest checked before anything is written (JSON, no
-- path escaping the directory), each file streamed to a temporary name, its MD5 compared with the
-- manifest, then renamed into place; files already present with the right digest are skipped.
local core = require "runwatch.core"
local json = require "runwatch.json"
local digest = require "runwatch.digest"
local fs = require "runwatch.fswatch"
local task = require "runwatch.task"
local errors = require "runwatch.errors"
local queries = require "runwatch.wb.artifact_queries"

local M = {}

M.URL_PAGE = 5000        -- file URLs per request (the SDK's default batch)
M.CONCURRENCY = 4        -- files in flight per download (the host's budget caps requests too)
M.MAX_FILE = 1 << 40     -- no size cap on a streamed file beyond the manifest's own size

local function fail(label, message, fields)
  fields = fields or {}
  fields.message = label .. ": " .. message
  fields.op = fields.op or "Artifact.download"
  errors.raise(fields, 3)
end

-- base64 MD5 of a file's bytes, or nil when it cannot be read
function M.file_md5(path)
  local raw = digest.md5_file(path)
  return raw and core.base64(raw) or nil
end

-- A manifest path is relative, POSIX, with no empty, "." or ".." segment and no NUL.
local function bad_path(p)
  if type(p) ~= "string" or p == "" then return "an empty path" end
  if p:find("\0", 1, true) then return "a NUL byte" end
  if p:sub(1, 1) == "/" then return "an absolute path" end
  for seg in (p .. "/"):gmatch("([^/]*)/") do
    if seg == ".." then return "a '..' segment (it would escape the target directory)" end
    if seg == "" or seg == "." then return "an empty or '.' segment" end
  end
  return nil
end

-- parse(text, label) -> list of entries {path, digest, size, ref} in path order; raises on a
-- manifest that is not JSON, has no contents, or lists a path that is unsafe to write.
function M.parse(text, label)
  local doc, err = json.decode(text)
  if type(doc) ~= "table" then
    fail(label, "the manifest is not JSON (" .. tostring(err or "not an object") .. "); nothing was written")
  end
  if type(doc.contents) ~= "table" then fail(label, "the manifest has no \"contents\" object; nothing was written") end
  local out = {}
  for p, e in pairs(doc.contents) do
    local why = bad_path(p)
    if why then
      fail(label, string.format("the manifest lists %q: %s; refused, nothing was written", tostring(p), why))
    end
    if type(e) ~= "table" or type(e.digest) ~= "string" then
      fail(label, string.format("the manifest entry %q has no digest; nothing was written", p))
    end
    local ref = e.ref
    if ref == json.null then ref = nil end
    out[#out + 1] = {path = p, digest = e.digest, size = math.tointeger(e.size), ref = ref}
  end
  table.sort(out, function(a, b) return a.path < b.path end)
  return out
end

local function exists(path) return fs.stat(path) ~= nil end

-- mkdir -p below root (root itself included)
local function mkdirs(path)
  local acc = path:sub(1, 1) == "/" and "" or nil
  for seg in path:gmatch("[^/]+") do
    acc = acc and (acc .. "/" .. seg) or seg
    local st = fs.stat(acc)
    if not st then
      local ok, err = fs.mkdir(acc)
      if not ok and not exists(acc) then return nil, err end
    elseif st.type ~= "directory" then
      return nil, acc .. " exists and is not a directory"
    end
  end
  return true
end

-- fetch(backend, url, label) -> body text of a signed URL (the manifest)
local function fetch_text(backend, url, label)
  local res, err = backend:download(url, {max_size = 256 * 1024 * 1024})
  if not res then fail(label, "cannot fetch the manifest: " .. tostring(err), {exc = err}) end
  if res.status ~= 200 then fail(label, "cannot fetch the manifest: HTTP " .. res.status, {status = res.status}) end
  return res.body
end

-- manifest(art) -> entries (see parse)
function M.manifest(art)
  local label = art.qualified_name
  local data = art._backend:gql(queries.FetchArtifactManifest, {id = art.id}, {op = "FetchArtifactManifest"})
  local a = data.artifact
  local m = a ~= json.null and a and a.currentManifest
  local f = m and m ~= json.null and m.file
  local url = f and f ~= json.null and f.directUrl
  if type(url) ~= "string" then fail(label, "Failed to fetch artifact manifest", {op = "FetchArtifactManifest"}) end
  return M.parse(fetch_text(art._backend, url, label), label)
end

-- urls(art) -> {path = directUrl}, every page of GetArtifactMembershipFileUrls
local function urls(art)
  local out, cursor = {}, nil
  repeat
    local data = art._backend:gql(queries.GetArtifactMembershipFileUrls, {entity = art.entity, project = art.project,
      collection = art.collection, alias = art.version, cursor = cursor or json.null, perPage = M.URL_PAGE},
      {op = "GetArtifactMembershipFileUrls"})
    local p = data.project
    local c = p ~= json.null and p and p.artifactCollection
    local mb = c and c ~= json.null and c.artifactMembership
    local files = mb and mb ~= json.null and mb.files
    if not files or files == json.null then
      fail(art.qualified_name, "Unable to fetch files for artifact: '" .. art.name .. "'", {op = "GetArtifactMembershipFileUrls"})
    end
    for _, e in ipairs(files.edges) do out[e.node.name] = e.node.directUrl end
    cursor = files.pageInfo.endCursor
  until not files.pageInfo.hasNextPage or #files.edges == 0
  return out
end

-- Temporaries of this file left by a download that was killed (their process is gone) are
-- removed before it is fetched again: nothing of a killed download stays in the directory.
local function remove_stale(dir, base)
  local prefix = "." .. base .. ".rw-"
  for _, n in ipairs(fs.dir(dir) or {}) do
    if n:sub(1, #prefix) == prefix then
      local pid = tonumber(n:sub(#prefix + 1):match("^(%d+)%.part$"))
      if pid and pid ~= core.getpid() and not fs.pid_alive(pid) then os.remove(dir .. "/" .. n) end
    end
  end
end

-- one(art, root, entry, url, stats): the file in place, verified, or an error naming it
local function one(art, root, e, url, stats)
  local label = art.qualified_name
  local target = root .. "/" .. e.path
  if exists(target) and M.file_md5(target) == e.digest then
    stats.skipped = stats.skipped + 1
    return
  end
  if not url then fail(label, "the server lists no URL for " .. e.path) end
  local dir = target:match("^(.*)/[^/]*$")
  local ok, merr = mkdirs(dir)
  if not ok then fail(label, "cannot create the directory for " .. e.path .. ": " .. tostring(merr)) end
  local base = target:match("[^/]*$")
  local tmp = dir .. "/." .. base .. ".rw-" .. core.getpid() .. ".part"
  remove_stale(dir, base)
  local res, err = art._backend:download(url, {output = tmp, max_size = M.MAX_FILE})
  if not res or res.status ~= 200 then
    os.remove(tmp)
    fail(label, "download of " .. e.path .. " failed: " .. (res and ("HTTP " .. res.status) or tostring(err)),
      {status = res and res.status, exc = err})
  end
  local got = M.file_md5(tmp)
  if got ~= e.digest then
    os.remove(tmp)
    fail(label, string.format("digest mismatch for %s: the manifest says %s, the bytes received have %s; "
      .. "nothing was written under its name", e.path, e.digest, tostring(got)), {exc = "digest mismatch", path = e.path})
  end
  local rok, rerr = os.rename(tmp, target)
  if not rok then os.remove(tmp); fail(label, "cannot move " .. e.path .. " into place: " .. tostring(rerr)) end
  stats.downloaded = stats.downloaded + 1
  stats.bytes = stats.bytes + (e.size or 0)
end

-- download(art, root, {path_prefix =, concurrency =}) -> root, stats {downloaded, skipped, bytes, references}
function M.download(art, root, o)
  o = o or {}
  local entries = M.manifest(art)          -- raises on a bad manifest: nothing written yet
  local want, refs = {}, 0
  for _, e in ipairs(entries) do
    if not o.path_prefix or e.path:sub(1, #o.path_prefix) == o.path_prefix then
      if e.ref then refs = refs + 1 else want[#want + 1] = e end
    end
  end
  local ok, merr = mkdirs(root)
  if not ok then fail(art.qualified_name, "cannot create " .. root .. ": " .. tostring(merr)) end
  local stats = {downloaded = 0, skipped = 0, bytes = 0, references = refs}
  local u = #want > 0 and urls(art) or {}
  local listed = {}
  for _, e in ipairs(entries) do listed[e.path] = true end
  for name in pairs(u) do
    if not listed[name] then fail(art.qualified_name, "the server lists a file the manifest does not: " .. name) end
  end
  task.map(want, function(e) one(art, root, e, u[e.path], stats) end, {limit = o.concurrency or M.CONCURRENCY})
  return root, stats
end

return M
