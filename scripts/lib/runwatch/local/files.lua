-- The files of local runs (files/ of each run directory): listing with names, a LIKE pattern and
-- paging, as W&B's RunFiles; file:// URLs; downloads of files inside the backend's directory only.
-- Methods it adds to the backend: files, download.
local core = require "runwatch.core"
local json = require "runwatch.json"
local fswatch = require "runwatch.fswatch"
local scan = require "runwatch.local.scan"

local M = {}
local B = {}
M.methods = B
local NULL = json.null
local iso, normalize, absolute = scan.iso, scan.normalize, scan.absolute

-- {====== files

local MIME = {json = "application/json", yaml = "application/x-yaml", yml = "application/x-yaml",
  txt = "text/plain", log = "text/plain", patch = "text/x-diff", py = "text/x-python", png = "image/png",
  jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", svg = "image/svg+xml", html = "text/html",
  csv = "text/csv", md = "text/markdown"}

local function list_files(dir, prefix, out, depth)
  if depth > 16 then return end
  for _, name in ipairs(fswatch.dir(dir) or {}) do
    local p = dir .. "/" .. name
    local st = fswatch.stat(p)
    if st and st.type == "directory" then list_files(p, prefix .. name .. "/", out, depth + 1)
    elseif st and st.type == "file" then out[#out + 1] = {name = prefix .. name, path = p, st = st} end
  end
end

local function like(pattern)
  local parts = {"^"}
  for ch in pattern:gmatch(utf8.charpattern) do
    if ch == "%" then parts[#parts + 1] = ".*"
    elseif ch == "_" then parts[#parts + 1] = "."
    else parts[#parts + 1] = ch:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0") end
  end
  parts[#parts + 1] = "$"
  return table.concat(parts)
end

local function file_url(path) return "file://" .. normalize(absolute(path)) end

-- files(e, p, id, {names, pattern, per_page, cursor}) -> {count, nodes, cursor, has_next}
function B:files(entity, project, id, o)
  local run = self:find_run(entity, project, id)
  if not run then return nil end
  local byname = {}
  for _, seg in ipairs(run.segs) do
    local list = {}
    list_files(seg.dir .. "/files", "", list, 0)
    for _, f in ipairs(list) do byname[f.name] = f end
  end
  local all = {}
  for _, f in pairs(byname) do all[#all + 1] = f end
  table.sort(all, function(a, b) return a.name < b.name end)
  local list = all
  if o.names and #o.names > 0 then
    local want = {}
    for _, n in ipairs(o.names) do want[n] = true end
    local l = {}
    for _, f in ipairs(list) do if want[f.name] then l[#l + 1] = f end end
    list = l
  end
  if o.pattern and o.pattern ~= NULL then
    local pat = like(o.pattern)
    local l = {}
    for _, f in ipairs(list) do if f.name:match(pat) then l[#l + 1] = f end end
    list = l
  end
  if o.cursor and o.cursor ~= NULL then
    local l = {}
    for _, f in ipairs(list) do if f.name > o.cursor then l[#l + 1] = f end end
    list = l
  end
  local n = math.min(o.per_page or 50, 1000)
  local nodes, last = {}, nil
  for i = 1, math.min(n, #list) do
    local f = list[i]
    local ext = f.name:match("%.([%w]+)$")
    nodes[i] = {id = core.base64("File:" .. f.path), name = f.name, url = file_url(f.path),
      directUrl = file_url(f.path), sizeBytes = f.st.size, mimetype = MIME[ext and ext:lower() or ""] or "application/octet-stream",
      updatedAt = iso(f.st.mtime), md5 = NULL}
    last = f.name
  end
  return {count = #all, nodes = nodes, cursor = last, has_next = #list > #nodes and last ~= nil}
end

-- download(url [, {output = path, max_size = bytes}]) -> {status, headers, body} or nil, err.
-- Only file:// URLs of files inside the local directory.
function B:download(url, opts)
  opts = opts or {}
  if type(url) ~= "string" or not url:match("^file://") then
    error("local backend: only file:// URLs of local run files can be downloaded", 2)
  end
  local path = url:gsub("^file://", ""):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  local root = normalize(self.abs)
  path = normalize(path)
  if path:sub(1, #root + 1) ~= root .. "/" then
    return nil, "not a file of the local run directory " .. self.dir
  end
  local f, err = io.open(path, "rb")
  if not f then
    if fswatch.stat(path) then return nil, err end
    return {status = 404, headers = {}, body = ""}
  end
  local body = f:read("a")
  f:close()
  if opts.max_size and #body > opts.max_size then return nil, "file larger than max_size" end
  if opts.output then
    local out, oerr = io.open(opts.output, "wb")
    if not out then return nil, oerr end
    out:write(body)
    out:close()
    return {status = 200, headers = {["content-length"] = tostring(#body)}}
  end
  return {status = 200, headers = {["content-length"] = tostring(#body)}, body = body}
end

-- }======

return M
