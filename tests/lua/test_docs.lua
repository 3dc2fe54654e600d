-- Every ```lua block in README.md and docs/*.md compiles (a "..." placeholder for elided code
-- is allowed), so the snippets a new user copies are at least valid Lua.
local t = require "testlib"
local root = (os.getenv("RW_TESTS") or "tests") .. "/.."

local files = {root .. "/README.md"}
local p = io.popen("ls " .. root .. "/docs/*.md 2>/dev/null")
for f in p:lines() do files[#files + 1] = f end
p:close()

local blocks = 0
for _, path in ipairs(files) do
  local fh = io.open(path)
  if fh then
    local text = fh:read("a")
    fh:close()
    for before, code in text:gmatch("()```lua\n(.-)```") do
      local _ = before
      blocks = blocks + 1
      local at = select(2, text:sub(1, before):gsub("\n", "")) + 2
      -- "..." stands for elided code in snippets: make it a harmless expression
      -- "..." for elided code: as a statement it is a comment, as an expression nil
      local name = "=" .. path:match("[^/]+$") .. ":" .. at
      local fn, err = load((code:gsub("(%f[.]%.%.%.)%f[^.]", "--[[...]]")), name, "t", {})
      if not fn then fn = load((code:gsub("(%f[.]%.%.%.)%f[^.]", "nil")), name, "t", {}) end
      t.ok(fn ~= nil, path:match("[^/]+$") .. " block at line " .. at .. " compiles: " .. tostring(err))
    end
  end
end
t.ok(blocks >= 5, "found the snippets: " .. blocks)
t.done()
