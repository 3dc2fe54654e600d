# Issue 17 item 1: `runwatch types DIR` writes the editor annotations and a .luarc.json that
# points lua-language-server at them, keeping the file's other settings; idempotent; a
# .luarc.json that is not a JSON object is left alone (exit 1). The drift test is
# tests/lua/test_types.lua.
. "$(dirname "$0")/lib.sh"
cd "$tmp"
expect_exit 0 $RW types $LIB
[ -s .runwatch/types/runwatch.lua ] && ok || bad "no .runwatch/types/runwatch.lua"
expect_match .runwatch/types/runwatch.lua '^---@meta runwatch'
expect_match .runwatch/types/runwatch.lua '^function every\(interval, fn, opts\) end'
# the same text the binary carries
$RW once $LIB -e 'io.write((require("runwatch.types")))' > embedded.lua
cmp -s embedded.lua .runwatch/types/runwatch.lua && ok || bad "the written annotations differ from runwatch.types"
# .luarc.json: JSON with the library, Lua 5.4
$RW once $LIB -e '
  local f = assert(io.open(".luarc.json")); local doc = json.decode(f:read("a")); f:close()
  print(doc["runtime.version"], #doc["workspace.library"], doc["workspace.library"][1])' > luarc.txt
expect_match luarc.txt '^Lua 5.4	1	.runwatch/types$'
# another run with a custom DIR into an existing .luarc.json: kept settings, both libraries, once each
printf '{"diagnostics.globals": ["my_helper"], "workspace.library": ["vendor"]}\n' > .luarc.json
expect_exit 0 $RW types $LIB other/types
expect_exit 0 $RW types $LIB other/types
$RW once $LIB -e '
  local f = assert(io.open(".luarc.json")); local doc = json.decode(f:read("a")); f:close()
  print(doc["diagnostics.globals"][1], table.concat(doc["workspace.library"], ","))' > luarc.txt
expect_match luarc.txt '^my_helper	vendor,other/types$'
# the nested form ({"workspace": {"library": [...]}}) is extended in that form, not doubled
printf '{"workspace": {"library": ["vendor"]}, "runtime": {"version": "LuaJIT", "path": ["?.lua"]}}\n' > nested.json
expect_exit 0 $RW types $LIB nt --luarc nested.json
$RW once $LIB -e '
  local f = assert(io.open("nested.json")); local doc = json.decode(f:read("a")); f:close()
  print(table.concat(doc.workspace.library, ","), doc.runtime.version, doc.runtime.path[1],
    doc["workspace.library"] == nil and doc["runtime.version"] == nil)' > luarc.txt
expect_match luarc.txt '^vendor,nt	Lua 5.4	\?\.lua	true$'
# --luarc elsewhere; a file that is not a JSON object is not touched
echo '[1, 2]' > bad.json
cp bad.json bad.orig
expect_exit 1 $RW types $LIB x --luarc bad.json
expect_match "$tmp/err" 'bad.json is not a JSON object'
cmp -s bad.json bad.orig && ok || bad "bad.json was changed"
# help, and no network or state needed
expect_exit 0 $RW types --help
expect_match "$tmp/out" '--luarc FILE'
finish
