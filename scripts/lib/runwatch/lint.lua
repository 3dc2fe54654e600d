-- `runwatch check`'s lint: one pass over a script's tokens finds literal durations and cron
-- expressions that would fail at run time, and globals read but never defined. Linear in the
-- script's size (every scan moves forward; line numbers come from one forward walk over the
-- newlines), no copy of the source, memory bounded by the number of distinct names.
local M = {}

local find, sub, byte, match = string.find, string.sub, string.byte, string.match

local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat return then true until while"):gmatch("%a+") do KEYWORDS[w] = true end

-- names called with a duration or cron literal: every("5m"), after("1h"), sleep("2s"), cron("...")
local CALLS = {every = "duration", after = "duration", sleep = "duration", cron = "cron"}
-- table keys whose string value is a duration: {every = "5m"}, {["for"] = "10m"}, ...
local KEYS = {every = true, ["for"] = true, ["repeat"] = true, stale_after = true}

local OPS3 = {["..."] = true}
local OPS2 = {[".."] = true, ["=="] = true, ["~="] = true, ["<="] = true, [">="] = true,
  ["//"] = true, ["::"] = true, ["<<"] = true, [">>"] = true}

local B_DASH, B_LBRACKET, B_DQ, B_SQ, B_DOT, B_BACKSLASH = byte("-"), byte("["), byte('"'), byte("'"), byte("."), byte("\\")

-- each(src, visit): calls visit(kind, value, line, s, e) for every token, in order. kind is
-- "name" (value: the name), "string" (value: nil; s..e its raw content, escapes as written),
-- "number" or "op" (value: the operator). Comments and whitespace are skipped. The source is
-- assumed to compile (check lints only what load accepted).
function M.each(src, visit)
  local n = #src
  local line, nl = 1, find(src, "\n", 1, true)
  local i = 1
  while true do
    i = find(src, "[^ \t\r\n\f\v]", i)
    if not i then break end
    -- the line of position i: walk the newlines before it (each one once in the whole pass)
    while nl and nl < i do
      line = line + 1
      nl = find(src, "\n", nl + 1, true)
    end
    local c = byte(src, i)
    if c == B_DASH and byte(src, i + 1) == B_DASH then
      local lvl = match(src, "^%[(=*)%[", i + 2)
      if lvl then
        local _, e = find(src, "]" .. lvl .. "]", i + 2, true)
        i = (e or n) + 1
      else
        i = (find(src, "\n", i + 2, true) or n) + 1
      end
    elseif c == B_LBRACKET and match(src, "^%[=*%[", i) then
      local lvl = match(src, "^%[(=*)%[", i)
      local s = i + #lvl + 2
      local e1, e2 = find(src, "]" .. lvl .. "]", s, true)
      visit("string", nil, line, s, (e1 or n + 1) - 1)
      i = (e2 or n) + 1
    elseif c == B_DQ or c == B_SQ then
      local stop = c == B_DQ and '[\\"]' or "[\\']"
      local j = i + 1
      while true do
        local p = find(src, stop, j)
        if not p then j = n + 1 break end
        if byte(src, p) == B_BACKSLASH then j = p + 2 else j = p break end
      end
      visit("string", nil, line, i + 1, j - 1)
      i = j + 1
    else
      local _, e = find(src, "^[%a_][%w_]*", i)
      if e then
        visit("name", sub(src, i, e), line, i, e)
        i = e + 1
      elseif find(src, "^%.?%d", i) then
        -- a number: digits, letters, dots; an exponent's sign (e/E, or p/P in hex)
        local hex = find(src, "^0[xX]", i) ~= nil
        _, e = find(src, "^[%w_.]*", i)
        while true do
          local x, sign = byte(src, e), byte(src, e + 1)
          local expo = hex and (x == 112 or x == 80) or (not hex and (x == 101 or x == 69))
          if not (expo and (sign == 43 or sign == 45)) then break end
          _, e = find(src, "^[%w_.]*", e + 2)
        end
        visit("number", nil, line, i, e)
        i = e + 1
      else
        local op = sub(src, i, i + 2)
        if not OPS3[op] then
          op = sub(src, i, i + 1)
          if not OPS2[op] then op = sub(src, i, i) end
        end
        visit("op", op, line, i, i + #op - 1)
        i = i + #op
      end
    end
  end
end

-- lint(path, src, known, checks) -> problems (errors), warnings: lists of "path:line: ..."
-- strings. known(name) says whether runwatch provides a global. checks.duration(s) and
-- checks.cron(s) return nil or the message for a bad literal.
function M.lint(path, src, known, checks)
  local problems, warnings = {}, {}
  local defined, reads, order = {}, {}, {}
  -- the last four tokens (kind, value, line, content start and end), newest first
  local k1, v1, l1, s1, e1
  local k2, v2, l2, s2, e2
  local k3, v3, s3, e3
  local k4, v4
  -- what the names just seen are: "local" (a local list), "for" (loop variables), "fname"
  -- (after `function`), "params" (inside a parameter list), "label" (after goto)
  local mode
  local want_name                   -- in a local or for list: a name comes next (not a ',')
  local in_attrib                   -- inside `<const>`
  local fname_first, fname_single   -- the first name after `function`, and whether it stayed alone
  local pending_name, pending_line  -- a name read, unless its next token is `=`

  local function problem(line, msg)
    problems[#problems + 1] = string.format("%s:%d: %s", path, line, msg)
  end

  M.each(src, function(kind, v, line, s, e)
    -- settle the previous name now that its next token is known: `name =` defines it (an
    -- assignment or a table constructor's key), anything else reads it
    if pending_name then
      if kind == "op" and v == "=" then
        defined[pending_name] = true
      elseif not reads[pending_name] then
        reads[pending_name] = pending_line
        order[#order + 1] = pending_name
      end
      pending_name = nil
    end

    if kind == "string" then
      if k1 == "op" and v1 == "(" and k2 == "name" and CALLS[v2] then
        -- every("5x"), cron("..."): a call with a literal first argument
        local msg = checks[CALLS[v2]](sub(src, s, e))
        if msg then problem(l2, msg) end
      elseif k1 == "op" and v1 == "=" then
        -- {every = "5x"}, {["for"] = "5x"}
        local key, kline
        if k2 == "name" and KEYS[v2] then key, kline = v2, l2
        elseif k2 == "op" and v2 == "]" and k3 == "string" and k4 == "op" and v4 == "[" then
          local kstr = sub(src, s3, e3)
          if KEYS[kstr] then key, kline = kstr, l2 end
        end
        if key then
          local msg = checks.duration(sub(src, s, e))
          if msg then problem(kline, msg) end
        end
      end
      if mode ~= "params" then mode = nil end
    elseif kind == "name" and KEYWORDS[v] then
      if v == "local" then mode, want_name, in_attrib = "local", true, false
      elseif v == "for" then mode, want_name = "for", true
      elseif v == "function" then
        if mode == "local" then fname_first = false else fname_first = nil end
        mode = "fname"
      elseif v == "goto" then mode = "label"
      elseif mode ~= "params" then mode = nil
      end
    elseif kind == "name" then
      if (mode == "local" or mode == "for") and in_attrib then
        -- the attribute's name (const, close)
      elseif (mode == "local" or mode == "for") and want_name then
        defined[v] = true
        want_name = false
      elseif mode == "params" then
        defined[v] = true
      elseif mode == "label" then
        mode = nil
      elseif mode == "fname" and fname_first == false then
        defined[v] = true                        -- local function NAME
        fname_first, fname_single = v, false
      else
        if mode == "fname" then
          if fname_first == nil then fname_first, fname_single = v, true else fname_single = false end
        else
          mode = nil
        end
        if not (k1 == "op" and (v1 == "." or v1 == ":" or v1 == "::")) then
          pending_name, pending_line = v, line
        end
      end
    elseif kind == "op" then
      if mode == "fname" then
        if v == "(" then
          if fname_first and fname_single then defined[fname_first] = true end
          mode = "params"
        elseif v ~= "." and v ~= ":" then
          mode = nil
        end
      elseif mode == "params" then
        if v == ")" then mode = nil end
      elseif mode == "local" or mode == "for" then
        if v == "," and not want_name then want_name = true
        elseif v == "<" and mode == "local" and not want_name then in_attrib = true
        elseif v == ">" and in_attrib then in_attrib = false
        else mode = nil end
      else
        mode = nil
      end
    else
      if mode ~= "params" then mode = nil end
    end
    k4, v4 = k3, v3
    k3, v3, s3, e3 = k2, v2, s2, e2
    k2, v2, l2, s2, e2 = k1, v1, l1, s1, e1
    k1, v1, l1, s1, e1 = kind, v, line, s, e
  end)
  if pending_name and not reads[pending_name] then
    reads[pending_name] = pending_line
    order[#order + 1] = pending_name
  end

  for _, name in ipairs(order) do
    if not defined[name] and not known(name) then
      warnings[#warnings + 1] = string.format("%s:%d: warning: global '%s' is read but never defined (a typo?)",
        path, reads[name], name)
    end
  end
  return problems, warnings
end

return M
