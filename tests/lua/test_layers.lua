-- The Lua library's require graph is the layering written in docs/architecture.md ("Layers"):
-- every module is listed once, and every require -- at load time or inside a function -- goes
-- to a lower layer, so the graph has no cycle, hidden or not. Then each module loads on its own
-- (a fresh set of Lua modules for each), which a cycle or a missing require would break.
local t = require "testlib"
local src = os.getenv("RW_TESTS") .. "/.."
local lib = src .. "/scripts/lib/runwatch"

local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- every module of scripts/lib/runwatch
local modules = {}
local function scan(dir, prefix)
  local p = io.popen('ls -1 "' .. dir .. '"')
  for name in p:lines() do
    if name:match("%.lua$") then
      modules[prefix .. name:gsub("%.lua$", "")] = dir .. "/" .. name
    elseif not name:find("%.") then
      scan(dir .. "/" .. name, prefix .. name .. ".")
    end
  end
  p:close()
end
scan(lib, "")
local n_modules = 0
for _ in pairs(modules) do n_modules = n_modules + 1 end
t.ok(n_modules > 30, "found the library's modules: " .. n_modules)

-- the layers as docs/architecture.md writes them
local doc = slurp(src .. "/docs/architecture.md")
local section = doc:match("\n## Layers[^\n]*\n(.-)\n## ")
t.ok(section ~= nil, "docs/architecture.md has a '## Layers' section")
local layer_of, listed_twice = {}, {}
for num, line in (section or ""):gmatch("\n?(%d+)%. ([^\n]*)") do
  for name in line:gmatch("`([%w_.]+)`") do
    if layer_of[name] then listed_twice[#listed_twice + 1] = name end
    layer_of[name] = tonumber(num)
  end
end
t.eq(#listed_twice, 0, "no module is in two layers: " .. table.concat(listed_twice, ", "))
for name in pairs(modules) do
  t.ok(layer_of[name] ~= nil, "module " .. name .. " (scripts/lib/runwatch/" .. name:gsub("%.", "/") ..
    ".lua) is listed in docs/architecture.md's Layers: add it to the layer above everything it requires")
end
for name in pairs(layer_of) do
  t.ok(modules[name] ~= nil, "docs/architecture.md's Layers names " .. name .. ", which does not exist")
end

-- every require, anywhere in the file, goes down
local edges = 0
for name, path in pairs(modules) do
  local code = slurp(path)
  for dep in code:gmatch("require%s*%(?%s*[\"']runwatch%.([%w_.]+)[\"']") do
    if modules[dep] and layer_of[name] and layer_of[dep] then
      edges = edges + 1
      t.ok(layer_of[dep] < layer_of[name], string.format("%s (layer %d) requires %s (layer %d): a require " ..
        "must go to a lower layer (a cycle, or the layering in docs/architecture.md is out of date)",
        name, layer_of[name], dep, layer_of[dep]))
    end
  end
end
t.ok(edges > 50, "requires checked: " .. edges)

-- no module reads or sets a global of its own making (a typo, a helper left behind when code
-- moved): every global a module names is one of Lua's (luac's listing shows them as _ENV fields)
local STD = {}
for k in pairs(_G) do STD[k] = true end
for _, k in ipairs({"require", "package", "debug", "io", "os", "utf8", "coroutine", "_G"}) do STD[k] = true end
local have_luac = os.execute("command -v luac5.4 >/dev/null 2>&1")
if have_luac then
  for name, path in pairs(modules) do
    local p = io.popen('luac5.4 -p -l "' .. path .. '" 2>&1')
    local listing = p:read("a")
    p:close()
    local bad = {}
    for g in listing:gmatch('[GS]ETTABUP[^\n]-_ENV "([%w_]+)"') do
      if not STD[g] and not bad[g] then bad[g] = true; bad[#bad + 1] = g end
    end
    t.eq(#bad, 0, name .. " names no global of its own: " .. table.concat(bad, ", "))
  end
else
  print("note: luac5.4 not installed; the check of globals was skipped")
end

-- each module loads on its own: every Lua module of the library forgotten, then required alone
local saved = {}
for k, v in pairs(package.loaded) do saved[k] = v end
local function forget()
  for name in pairs(modules) do package.loaded["runwatch." .. name] = nil end
end
local TOP = {prelude = true}       -- defines the globals of the running scripts: not reloaded
for name in pairs(modules) do
  if not TOP[name] and not name:match("^commands%.") then
    forget()
    local ok, err = pcall(require, "runwatch." .. name)
    t.ok(ok, "runwatch." .. name .. " loads on its own: " .. tostring(err))
  end
end
forget()
for k, v in pairs(saved) do package.loaded[k] = v end

t.done()
