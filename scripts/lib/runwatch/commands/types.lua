-- `runwatch types [DIR] [--luarc FILE]` (options declared in cli/spec.lua): writes the editor
-- annotations (runwatch/types.lua's text) to DIR/runwatch.lua and points lua-language-server at
-- them from a .luarc.json, keeping that file's other settings.
local core = require "runwatch.core"
local json = require "runwatch.json"

local M = {}

local function err(s) io.stderr:write("runwatch types: " .. s .. "\n") end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- write(path, text): to path.tmp, then renamed, so an editor never reads half a file
local function write(path, text)
  local tmp = path .. ".tmp"
  local f, e = io.open(tmp, "wb")
  if not f then return nil, e end
  local ok, we = f:write(text)
  local cok, ce = f:close()
  if not ok or not cok then os.remove(tmp) return nil, tostring(we or ce) end
  local rok, re = os.rename(tmp, path)
  if not rok then os.remove(tmp) return nil, re end
  return true
end

local function mkdir_p(dir)
  local ok = os.execute("mkdir -p -- '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  if not ok then return nil, "mkdir failed" end
  return true
end

-- main(options, args) -> exit status
function M.main(o, args)
  local dir = (args[1] or ".runwatch/types"):gsub("(.)/+$", "%1")
  local luarc = o.luarc or ".luarc.json"
  local ok, e = mkdir_p(dir)
  if not ok then err("cannot create " .. dir .. " (" .. tostring(e) .. ")") return 1 end
  local file = dir .. "/runwatch.lua"
  ok, e = write(file, require("runwatch.types"))
  if not ok then err("cannot write " .. file .. " (" .. tostring(e) .. ")") return 1 end
  -- .luarc.json: keep what is there, add DIR to workspace.library once, Lua 5.4
  local settings = json.object({})
  local old = read(luarc)
  if old and old:match("%S") then
    local doc, derr = json.decode(old)
    if type(doc) ~= "table" or json.is_array(doc) then
      err(luarc .. " is not a JSON object (" .. tostring(derr or "an array or a value") .. "); nothing changed in it")
      return 1
    end
    settings = doc
  end
  -- LuaLS reads both spellings: nested ({"workspace": {"library": [...]}}) and dotted
  -- ("workspace.library"); a file that already uses the nested form is extended in that form
  local nested_ws = type(settings.workspace) == "table" and not json.is_array(settings.workspace)
  local nested_rt = type(settings.runtime) == "table" and not json.is_array(settings.runtime)
  local lib
  if nested_ws then lib = settings.workspace.library else lib = settings["workspace.library"] end
  if type(lib) ~= "table" then lib = json.array({}) end
  local present = false
  for _, p in ipairs(lib) do if p == dir then present = true end end
  if not present then lib[#lib + 1] = dir end
  if nested_ws then
    settings.workspace.library = json.array(lib)
    if settings.workspace.checkThirdParty == nil then settings.workspace.checkThirdParty = false end
  else
    settings["workspace.library"] = json.array(lib)
    if settings["workspace.checkThirdParty"] == nil then settings["workspace.checkThirdParty"] = false end
  end
  if nested_rt then settings.runtime.version = "Lua 5.4" else settings["runtime.version"] = "Lua 5.4" end
  ok, e = write(luarc, json.encode(settings, {indent = 2, sort_keys = true}) .. "\n")
  if not ok then err("cannot write " .. luarc .. " (" .. tostring(e) .. ")") return 1 end
  core.write(string.format("wrote %s and %s (open the scripts' folder in an editor with lua-language-server)\n",
    file, luarc))
  return 0
end

return M
