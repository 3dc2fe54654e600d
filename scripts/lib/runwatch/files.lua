-- A run's files: run:files{names=, pattern=, per_page=} (a lazy list) and run:file(name).
-- A File has name, size, md5, updated_at, mimetype, url, direct_url; file:read() returns the
-- bytes, file:download(path) streams them to disk. The API key goes only to the W&B origin.
local json = require "runwatch.json"
local errors = require "runwatch.errors"
local paged = require "runwatch.paged"

local M = {}
local File = {}
File.__index = File
File.__name = "runwatch.File"
function File:__tostring() return string.format("<File %s (%s bytes)>", self.name, tostring(self.size)) end

local function null(v) if v == json.null then return nil end return v end

local function new_file(backend, run_path, node)
  return setmetatable({name = node.name, size = null(node.sizeBytes), md5 = null(node.md5),
    updated_at = null(node.updatedAt), mimetype = null(node.mimetype), url = null(node.url),
    direct_url = null(node.directUrl), id = node.id, run = run_path, _backend = backend}, File)
end

local function fetch_failed(self, res, err)
  if not res then
    errors.raise({message = "download of " .. self.name .. " (run " .. self.run .. ") failed: " .. tostring(err),
      exc = err, op = "File.download"}, 3)
  end
  errors.raise({message = "download of " .. self.name .. " (run " .. self.run .. ") failed: HTTP " .. res.status,
    status = res.status, exc = res.body, op = "File.download"}, 3)
end

-- file:read() -> the file's bytes (raises CommError when it cannot be fetched)
function File:read(o)
  if not self.url then errors.raise({message = "file " .. self.name .. " has no download URL"}, 2) end
  local res, err = self._backend:download(self.url, {max_size = o and o.max_size})
  if not res or res.status ~= 200 then fetch_failed(self, res, err) end
  return res.body
end

-- file:download([path [, {replace = false}]]) -> the path written. path: a file name, or a
-- directory (ending in "/"), default the file's own name in the current directory.
function File:download(path, o)
  o = o or {}
  if path == nil or path:sub(-1) == "/" then path = (path or "") .. self.name end
  if not o.replace then
    local f = io.open(path, "rb")
    if f then f:close(); error("file exists: " .. path .. " (pass {replace = true})", 2) end
  end
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'") end
  local tmp = path .. ".part"
  local res, err = self._backend:download(self.url, {output = tmp, max_size = o.max_size})
  if not res or res.status ~= 200 then os.remove(tmp); fetch_failed(self, res, err) end
  local ok, rerr = os.rename(tmp, path)
  if not ok then error("cannot move the download into place: " .. tostring(rerr), 2) end
  return path
end

-- files(backend, e, p, id, {names=, pattern=, per_page=}) -> lazy list of File
function M.list(backend, entity, project, id, o)
  o = o or {}
  if o.names and o.pattern then error("files: give names or pattern, not both", 3) end
  if o.names ~= nil and type(o.names) ~= "table" then error("files: names must be a list of strings", 3) end
  local run_path = entity .. "/" .. project .. "/" .. id
  local per_page = o.per_page or 50
  local function fetch(cursor)
    return backend:files(entity, project, id, {names = o.names, pattern = o.pattern, per_page = per_page, cursor = cursor})
  end
  return paged.new(fetch, function(node) return new_file(backend, run_path, node) end,
    {per_page = per_page, name = "Files " .. run_path})
end

-- file(backend, e, p, id, name) -> File; a missing file is a CommError, never an empty file
function M.one(backend, entity, project, id, name)
  local page = backend:files(entity, project, id, {names = {name}, per_page = 1})
  local node = page and page.nodes[1]
  if not node or node.name ~= name then
    errors.raise({message = "no file " .. name .. " in run " .. entity .. "/" .. project .. "/" .. id,
      op = "RunFiles", exc = "not found"}, 3)
  end
  return new_file(backend, entity .. "/" .. project .. "/" .. id, node)
end

M.File = File
return M
