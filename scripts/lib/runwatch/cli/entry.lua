-- What the C side (runtime/cli.c) does with argv, before the app starts: parse it, and answer
-- --help, `runwatch help`, --version and usage errors at once; else hand back the parse.
local parse = require "runwatch.cli.parse"

local M = {}

-- run(argv, version) -> {print = text} (print it, exit 0), {version = true}, {error = text}
-- (exit 2), or the parse result to run (cli/parse.lua)
function M.run(argv, version)
  local r = parse.parse(argv)
  if r.version then return {version = true} end
  local commands = parse.commands
  if r.help or (r.command == "help" and not r.err) then
    local help = require "runwatch.cli.help"
    if r.command == "help" and not r.help then
      if r.options.man then return {print = help.man(version)} end
      if r.options.completion then return {print = require("runwatch.cli.bash").script()} end
      local target = r.args[1]
      if target and not commands[target] then
        return {error = parse.error_text("help", "unknown command '" .. target .. "'")}
      end
      return {print = help.text(target and commands[target])}
    end
    return {print = help.text(r.cmd)}
  end
  if r.err then return {error = parse.error_text(not r.bad_command and r.command or nil, r.err)} end
  return r
end

return M
