-- Assertions for Lua tests run by the runwatch binary: ok, eq, near, checkerr, and a summary line.
local M = {passed = 0, failed = 0}

local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  return info and (info.short_src .. ":" .. (info.currentline or 0)) or "?"
end

local function fail(msg, level)
  M.failed = M.failed + 1
  io.stderr:write("FAIL ", where(level + 1), ": ", msg, "\n")
end

-- ok(cond, msg): cond must be truthy.
function M.ok(cond, msg)
  if cond then M.passed = M.passed + 1 else fail(msg or "expected a true value", 2) end
  return cond
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if math.type(v) == "float" then return string.format("%.17g (float)", v) end
  return tostring(v)
end

-- Deep equality; integers and floats are different (1 ~= 1.0), NaN equals NaN.
local function deq(a, b, seen)
  if a == b then return math.type(a) == math.type(b) end
  if a ~= a and b ~= b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do if not deq(v, b[k], seen) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
M.deep_equal = deq

-- eq(got, want, msg): deep equality with integer/float distinction.
function M.eq(got, want, msg)
  if deq(got, want) then M.passed = M.passed + 1; return true end
  fail((msg and (msg .. ": ") or "") .. "got " .. show(got) .. ", want " .. show(want), 2)
  return false
end

-- checkerr(pattern, f, ...): f(...) must raise an error whose message contains pattern (plain).
function M.checkerr(pattern, f, ...)
  local okk, err = pcall(f, ...)
  if okk then fail("expected an error matching '" .. pattern .. "'", 2); return false end
  err = tostring(err)
  if not err:find(pattern, 1, true) then
    fail("error '" .. err .. "' does not contain '" .. pattern .. "'", 2); return false
  end
  M.passed = M.passed + 1
  return true
end

-- done(): print the summary line (run-test.sh reads it) and fail the job if anything failed.
function M.done()
  print(string.format("%d passed, %d failed", M.passed, M.failed))
  if M.failed > 0 then error(M.failed .. " assertion(s) failed", 0) end
end

return M
