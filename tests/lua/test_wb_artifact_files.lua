-- Artifact files against the W&B test server: lazy file pages, one file's bytes, verified downloads
-- (every byte's MD5 against the manifest, the key never sent to storage), a second download that
-- skips what is present, path_prefix, a corrupted file (an error naming it, nothing under its
-- name), a download resumed after it failed, and bad manifests refused before anything is written.
local t = require "testlib"
local wb = require "wbtest"
local core = require "runwatch.core"
local digest = require "runwatch.digest"
local fs = require "runwatch.fswatch"
local errors = require "runwatch.errors"

local tmp = os.tmpname()
os.remove(tmp)
assert(fs.mkdir(tmp))
local function rmrf(p) os.execute("rm -rf '" .. p .. "'") end

local stored = wb.admin("GET", "artifacts/rw-team/vision")
local function version(cname, v)
  for _, c in ipairs(stored.collections) do
    if c.name == cname then
      for _, x in ipairs(c.versions) do if x.version == v then return x end end
    end
  end
end
local function md5_file(p)
  local raw = digest.md5_file(p)
  return raw and core.base64(raw)
end
-- every file of dir, recursively, as a sorted list of relative paths
local function tree(dir, prefix, out)
  out = out or {}
  for _, n in ipairs(fs.dir(dir) or {}) do
    local p = dir .. "/" .. n
    local rel = (prefix and (prefix .. "/") or "") .. n
    if fs.stat(p).type == "directory" then tree(p, rel, out) else out[#out + 1] = rel end
  end
  table.sort(out)
  return out
end
local function paths_of(v, prefix)
  local out = {}
  for _, f in ipairs(v.files) do
    if not prefix or f.path:sub(1, #prefix) == prefix then out[#out + 1] = f.path end
  end
  table.sort(out)
  return out
end
local function storage_requests()
  local n, with_auth = 0, 0
  for _, r in ipairs(wb.admin("GET", "requests?path=/storage/")) do
    n = n + 1
    if r.auth_header then with_auth = with_auth + 1 end
  end
  return n, with_auth
end

local v1 = version("mnist-small", "v1")
local art = api.artifact("rw-team/vision/mnist-small:v1")

-- files: lazy pages, every field
wb.clear_requests()
local files = art:files{per_page = 2}
t.eq(#files, #v1.files, "#files is totalCount")
local names = {}
for i, f in ipairs(files) do
  names[#names + 1] = f.name
  t.eq(f.digest, v1.files[i].digest, f.name .. " digest")
  t.eq(f.size, v1.files[i].size, f.name .. " size")
end
t.eq(names, paths_of(v1), "every file listed once, in path order")
t.eq(#wb.requests("GetArtifactMembershipFiles"), 2, "two pages of 2")
t.eq(wb.requests("GetArtifactMembershipFiles")[1].variables.alias, "v1", "files are addressed by vN")
t.eq(#art:files{names = {"train.csv"}}, 1, "names filter")

-- one file's bytes
local body = art:file("notes/read me.txt"):read()
t.eq(body, "twenty-one rows, made up\n", "read() gives the bytes")
local ok, e = pcall(art.file, art, "nope.txt")
t.ok(not ok and errors.is(e) and e.message:find("nope.txt", 1, true), "a missing file is a CommError naming it")

-- a download: every file, every digest right, the key never sent to storage
wb.clear_requests()
local dir = tmp .. "/mnist"
local root, stats = art:download(dir)
t.eq(root, dir, "download returns the directory")
t.eq(tree(dir), paths_of(v1), "every manifest path written, nothing else")
for _, f in ipairs(v1.files) do t.eq(md5_file(dir .. "/" .. f.path), f.digest, f.path .. " bytes match the manifest") end
t.eq(stats.downloaded, #v1.files, "stats.downloaded")
local n, with_auth = storage_requests()
t.eq(n, #v1.files + 1, "one storage GET per file plus the manifest")
t.eq(with_auth, 0, "no Authorization header reached storage")
for _, r in ipairs(wb.admin("GET", "requests?path=/graphql")) do t.eq(r.auth, "ok", "W&B requests carry the key") end

-- again: everything present with the right digest is skipped
wb.clear_requests()
local _, again = art:download(dir)
t.eq({again.downloaded, again.skipped}, {0, #v1.files}, "second download skips every file")
t.eq((storage_requests()), 1, "only the manifest is fetched")
-- a file changed on disk is fetched again
local f = assert(io.open(dir .. "/train.csv", "wb")); f:write("changed"); f:close()
_, again = art:download(dir)
t.eq({again.downloaded, again.skipped}, {1, #v1.files - 1}, "a changed file is downloaded again")
t.eq(md5_file(dir .. "/train.csv"), version("mnist-small", "v1").files[#v1.files].digest, "and is right again")

-- path_prefix
local pdir = tmp .. "/prefix"
art:download(pdir, {path_prefix = "notes/"})
t.eq(tree(pdir), paths_of(v1, "notes/"), "path_prefix limits the files")

-- a big file is streamed to disk (3 MB)
local big = version("resnet-demo", "v1")
local bdir = tmp .. "/big"
local _, bs = api.artifact("rw-team/vision/resnet-demo:production"):download(bdir)
t.eq(bs.downloaded, #big.files, "big version downloaded")
for _, x in ipairs(big.files) do t.eq(md5_file(bdir .. "/" .. x.path), x.digest, "big " .. x.path) end

-- a corrupted file: an error naming it, nothing under its name, no temporary left
wb.admin("POST", "artifacts/corrupt", {entity = "rw-team", project = "vision", name = "mnist-small:v1", path = "train.csv"})
local cdir = tmp .. "/corrupt"
ok, e = pcall(art.download, art, cdir)
t.ok(not ok and errors.is(e), "a corrupted file fails the download: " .. tostring(e))
t.ok(tostring(e):find("digest mismatch for train.csv", 1, true), "the error names the file: " .. tostring(e))
local left = tree(cdir)
for _, p in ipairs(left) do
  t.ok(p ~= "train.csv", "nothing under train.csv")
  t.ok(not p:find("%.part$"), "no temporary left: " .. p)
end
-- resumed: once the bytes are right again, only what is missing is fetched
wb.admin("POST", "artifacts/corrupt", {entity = "rw-team", project = "vision", name = "mnist-small:v1", path = "train.csv", mode = false})
local _, rs = art:download(cdir)
t.eq(rs.downloaded + rs.skipped, #v1.files, "resumed download covers every file")
t.eq(rs.skipped, #left, "what the failed download verified is kept")
t.eq(tree(cdir), paths_of(v1), "complete after the resume")

-- file:read() of a corrupted file fails too
wb.admin("POST", "artifacts/corrupt", {entity = "rw-team", project = "vision", name = "mnist-small:v1", path = "test.csv"})
ok, e = pcall(function() return art:file("test.csv"):read() end)
t.ok(not ok and tostring(e):find("digest mismatch", 1, true), "read() checks the digest: " .. tostring(e))
wb.admin("POST", "artifacts/corrupt", {entity = "rw-team", project = "vision", name = "mnist-small:v1", path = "test.csv", mode = false})

-- bad manifests: refused before anything is written
local function bad_manifest(text, want, what)
  wb.admin("POST", "artifacts/manifest", {entity = "rw-team", project = "vision", name = "mnist-small:v0", text = text})
  local a0 = api.artifact("rw-team/vision/mnist-small:v0")
  local d = tmp .. "/bad-" .. what
  local bok, be = pcall(a0.download, a0, d)
  t.ok(not bok and tostring(be):find(want, 1, true), what .. ": " .. tostring(be))
  t.eq(fs.stat(d), nil, what .. ": the directory was not even created")
end
bad_manifest("{not json", "not JSON", "not-json")
bad_manifest('{"version": 1, "contents": {"../x": {"digest": "AAAAAAAAAAAAAAAAAAAAAA==", "size": 1}}}', '"../x"', "dotdot")
bad_manifest('{"version": 1, "contents": {"a/../../x": {"digest": "AAAAAAAAAAAAAAAAAAAAAA==", "size": 1}}}', "'..'", "nested-dotdot")
bad_manifest('{"version": 1, "contents": {"/etc/x": {"digest": "AAAAAAAAAAAAAAAAAAAAAA==", "size": 1}}}', "absolute", "absolute")
t.eq(fs.stat(tmp .. "/x"), nil, "nothing escaped the target directory")
wb.admin("POST", "artifacts/manifest", {entity = "rw-team", project = "vision", name = "mnist-small:v0", text = nil})

-- bad arguments are misuse
t.checkerr("path_prefix must be a string", art.download, art, tmp .. "/y", {path_prefix = 3})
t.checkerr('unknown option "path_prefx"', art.download, art, tmp .. "/y", {path_prefx = "a"})
t.checkerr("concurrency must be", art.download, art, tmp .. "/y", {concurrency = 0})
t.eq(fs.stat(tmp .. "/y"), nil, "misuse wrote nothing")
rmrf(tmp)
t.done()
