-- Regular expressions for $regex on local runs, in RE2 syntax as W&B documents for its filters:
-- alternation, groups ((...), (?:...), (?P<name>...), (?<name>...)), inline flags ((?i), (?s:...),
-- scoped to their group), classes with ranges, negation and [:alpha:]-style names, . ^ $ \A \z
-- \b \B \d \D \w \W \s \S, escapes (\t \n \r \f \v \a \x41 \x{263a}, punctuation), quantifiers
-- * + ? {n} {n,} {n,m} and their lazy forms; flags i (ASCII case), m (^ $ at lines), s (. matches
-- \n). What RE2 does not have is refused with a message: backreferences, lookaround, \u and \c
-- escapes. Matching works on UTF-8 code points, by backtracking.
local M = {}

local function ferror(msg) error(msg, 0) end

local function utf8_at(s, i)
  local b = s:byte(i)
  if not b then return nil, i end
  if b < 0x80 then return b, i + 1 end
  local n, cp
  if b >= 0xF0 and b < 0xF8 then n, cp = 3, b & 0x07
  elseif b >= 0xE0 then n, cp = 2, b & 0x0F
  elseif b >= 0xC0 then n, cp = 1, b & 0x1F
  else return b, i + 1 end
  for j = 1, n do
    local c = s:byte(i + j)
    if not c or c < 0x80 or c > 0xBF then return b, i + 1 end
    cp = (cp << 6) | (c & 0x3F)
  end
  return cp, i + n + 1
end

local function is_word(cp) return cp and ((cp >= 48 and cp <= 57) or (cp >= 65 and cp <= 90) or (cp >= 97 and cp <= 122) or cp == 95) end
local function is_digit(cp) return cp >= 48 and cp <= 57 end
-- RE2's \s: [\t\n\f\r ]
local SPACES = {[9] = true, [10] = true, [12] = true, [13] = true, [32] = true}
local function is_space(cp) return SPACES[cp] == true end

-- [[:name:]] classes (ASCII, as RE2)
local POSIX = {
  alnum = function(c) return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) end,
  alpha = function(c) return (c >= 65 and c <= 90) or (c >= 97 and c <= 122) end,
  ascii = function(c) return c <= 127 end,
  blank = function(c) return c == 9 or c == 32 end,
  cntrl = function(c) return c < 32 or c == 127 end,
  digit = function(c) return c >= 48 and c <= 57 end,
  graph = function(c) return c > 32 and c < 127 end,
  lower = function(c) return c >= 97 and c <= 122 end,
  print = function(c) return c >= 32 and c < 127 end,
  punct = function(c) return (c >= 33 and c <= 47) or (c >= 58 and c <= 64) or (c >= 91 and c <= 96) or (c >= 123 and c <= 126) end,
  space = function(c) return c == 9 or c == 10 or c == 11 or c == 12 or c == 13 or c == 32 end,
  upper = function(c) return c >= 65 and c <= 90 end,
  word = function(c) return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c == 95 end,
  xdigit = function(c) return (c >= 48 and c <= 57) or (c >= 65 and c <= 70) or (c >= 97 and c <= 102) end,
}

local function other_case(cp)
  if cp >= 65 and cp <= 90 then return cp + 32 end
  if cp >= 97 and cp <= 122 then return cp - 32 end
  return cp
end

local function regex_compile(pattern, flags)
  local pos, n = 1, #pattern
  local icase, multi, dotall = flags.i, flags.m, flags.s

  local function fail(why) ferror(string.format("invalid $regex %q: %s", pattern, why)) end
  local function peek() return pattern:sub(pos, pos) end

  -- one code point of the pattern as a literal
  local function literal_cp()
    local cp, nx = utf8_at(pattern, pos)
    pos = nx
    return cp
  end

  local function hex(len)
    local h = pattern:sub(pos, pos + len - 1)
    if #h ~= len or not h:match("^%x+$") then return nil end
    pos = pos + len
    return tonumber(h, 16)
  end

  -- an escape after '\' (pos at the char after it): a predicate on code points, or a special
  local CLASS = {d = is_digit, w = is_word, s = is_space}
  local function escape(in_class)
    local c = peek()
    if c == "" then fail("\\ at end of pattern") end
    pos = pos + 1
    local f = CLASS[c]
    if f then return "pred", f end
    local up = CLASS[c:lower()]
    if up and c:match("%u") then return "pred", function(cp) return not up(cp) end end
    if c == "b" then if in_class then return "cp", 8 end return "wordb", true end
    if c == "B" then return "wordb", false end
    if c:match("[1-9]") then fail("backreferences are not supported") end
    if c == "A" and not in_class then return "start", true end
    if c == "z" and not in_class then return "finish", true end
    local ctl = {t = 9, n = 10, r = 13, f = 12, v = 11, a = 7, ["0"] = 0}
    if ctl[c] then return "cp", ctl[c] end
    if c == "x" then
      if peek() == "{" then
        local h, e = pattern:match("^{(%x+)}()", pos)
        if not h then fail("bad \\x{...} escape") end
        pos = e
        return "cp", tonumber(h, 16)
      end
      local v = hex(2)
      if not v then fail("bad \\x escape (\\xHH or \\x{HHHH})") end
      return "cp", v
    end
    if c == "u" then fail("\\u is not RE2 syntax (write \\x{HHHH})") end
    if c == "c" then fail("\\c is not RE2 syntax") end
    if c == "p" or c == "P" then fail("\\p Unicode classes are not supported") end
    if c == "k" then fail("backreferences are not supported") end
    if c:match("%w") then fail("unknown escape \\" .. c) end
    pos = pos - 1
    return "cp", literal_cp()
  end

  local function cp_pred(cp)
    if icase then
      local o = other_case(cp)
      return function(x) return x == cp or x == o end
    end
    return function(x) return x == cp end
  end

  local function class()
    -- pos is after '['
    local negate = false
    if peek() == "^" then negate = true; pos = pos + 1 end
    local items = {}
    local first = true
    while true do
      if pos > n then fail("missing ]") end
      local c = peek()
      if c == "]" and not first then pos = pos + 1 break end
      first = false
      local name, after = pattern:match("^%[:(%^?%a+):%]()", pos)
      if name then
        local neg = name:sub(1, 1) == "^"
        local f = POSIX[neg and name:sub(2) or name]
        if not f then fail("unknown class [:" .. name .. ":]") end
        pos = after
        items[#items + 1] = neg and function(cp) return not f(cp) end or f
        goto continue
      end
      local kind, v
      if c == "\\" then pos = pos + 1; kind, v = escape(true)
      else kind, v = "cp", literal_cp() end
      if kind == "cp" and peek() == "-" and pattern:sub(pos + 1, pos + 1) ~= "]" and pos + 1 <= n then
        pos = pos + 1
        local k2, v2
        if peek() == "\\" then pos = pos + 1; k2, v2 = escape(true) else k2, v2 = "cp", literal_cp() end
        if k2 ~= "cp" then
          items[#items + 1] = {v, v}; items[#items + 1] = {45, 45}; items[#items + 1] = v2
        else
          if v2 < v then fail("range out of order in character class") end
          items[#items + 1] = {v, v2}
        end
      elseif kind == "cp" then
        items[#items + 1] = {v, v}
      elseif kind == "pred" then
        items[#items + 1] = v
      else
        fail("\\" .. pattern:sub(pos - 1, pos - 1) .. " in a character class")
      end
      ::continue::
    end
    local function hit(cp)
      for _, it in ipairs(items) do
        if type(it) == "function" then if it(cp) then return true end
        elseif cp >= it[1] and cp <= it[2] then return true end
      end
      return false
    end
    local pred = hit
    if icase then pred = function(cp) return hit(cp) or hit(other_case(cp)) end end
    if negate then return function(cp) return not pred(cp) end end
    return pred
  end

  -- matcher: function(s, i, k) -> boolean; k(j) continues after a match ending before j
  local function char_matcher(pred)
    return function(s, i, k)
      local cp, nx = utf8_at(s, i)
      if cp and pred(cp) then return k(nx) end
      return false
    end
  end

  local parse_alt

  local function atom()
    local c = peek()
    if c == "(" then
      pos = pos + 1
      local saved = {icase, multi, dotall}
      if pattern:sub(pos, pos + 1) == "?:" then pos = pos + 2
      elseif pattern:sub(pos, pos + 1) == "?=" or pattern:sub(pos, pos + 1) == "?!" or
             pattern:sub(pos, pos + 2) == "?<=" or pattern:sub(pos, pos + 2) == "?<!" then
        fail("lookaround is not RE2 syntax")
      elseif pattern:sub(pos, pos + 2) == "?P<" or pattern:sub(pos, pos + 1) == "?<" then
        local e = pattern:find(">", pos, true)
        if not e or not pattern:sub(pos, e):match("^%?P?<[%a_][%w_]*>$") then fail("bad group name") end
        pos = e + 1
      elseif peek() == "?" then
        -- inline flags: (?flags) for the rest of the group, (?flags:re) for re
        local on, off, close = pattern:match("^%?(%a*)%-?(%a*)([:)])", pos)
        if not on then fail("bad group") end
        for f in (on .. off):gmatch(".") do
          if not f:match("[ims]") then fail("flag " .. f .. " is not supported (i, m, s)") end
        end
        local function set(fl, v)
          if fl:find("i", 1, true) then icase = v end
          if fl:find("m", 1, true) then multi = v end
          if fl:find("s", 1, true) then dotall = v end
        end
        set(on, true)
        set(off, false)
        pos = pos + 1 + #on + (pattern:sub(pos + 1 + #on, pos + 1 + #on) == "-" and 1 or 0) + #off + 1
        if close == ")" then return function(s, i, k) return k(i) end, "flags" end
      end
      local inner = parse_alt()
      if peek() ~= ")" then fail("missing )") end
      pos = pos + 1
      icase, multi, dotall = saved[1], saved[2], saved[3]
      return inner
    end
    if c == "[" then
      pos = pos + 1
      return char_matcher(class())
    end
    if c == "." then
      pos = pos + 1
      local all = dotall
      return char_matcher(function(cp) return all or cp ~= 10 end)
    end
    if c == "^" then
      pos = pos + 1
      local ml = multi
      return function(s, i, k)
        if i == 1 or (ml and s:byte(i - 1) == 10) then return k(i) end
        return false
      end, true
    end
    if c == "$" then
      pos = pos + 1
      local ml = multi
      return function(s, i, k)
        if i == #s + 1 or (ml and s:byte(i) == 10) then return k(i) end
        return false
      end, true
    end
    if c == "\\" then
      pos = pos + 1
      local kind, v = escape(false)
      if kind == "wordb" then
        return function(s, i, k)
          local a = i > 1 and is_word(s:byte(i - 1)) or false
          local b = is_word(s:byte(i)) or false
          if (a ~= b) == v then return k(i) end
          return false
        end, true
      end
      if kind == "start" then return function(s, i, k) if i == 1 then return k(i) end return false end, true end
      if kind == "finish" then return function(s, i, k) if i == #s + 1 then return k(i) end return false end, true end
      if kind == "pred" then return char_matcher(v) end
      return char_matcher(cp_pred(v))
    end
    if c == "*" or c == "+" or c == "?" then fail("nothing to repeat") end
    if c == ")" then fail("unmatched )") end
    return char_matcher(cp_pred(literal_cp()))
  end

  -- a quantifier at pos, or nil (a '{' that is not one is a literal, as in RE2)
  local function quantifier()
    local c = peek()
    local min, max
    if c == "*" then min, max = 0, math.huge; pos = pos + 1
    elseif c == "+" then min, max = 1, math.huge; pos = pos + 1
    elseif c == "?" then min, max = 0, 1; pos = pos + 1
    elseif c == "{" then
      local a, b, e = pattern:match("^{(%d+)(,?%d*)}()", pos)
      if not a then return nil end
      min = tonumber(a)
      if b == "" then max = min elseif b == "," then max = math.huge else max = tonumber(b:sub(2)) end
      if max < min then fail("numbers out of order in {} quantifier") end
      pos = e
    else
      return nil
    end
    local lazy = false
    if peek() == "?" then lazy = true; pos = pos + 1 end
    return min, max, lazy
  end

  local function repeat_matcher(m, min, max, lazy)
    return function(s, i, k)
      local function try(j, count)
        if lazy then
          if count >= min and k(j) then return true end
          if count < max then
            return m(s, j, function(x)
              if x == j and count >= min then return false end
              return try(x, count + 1)
            end)
          end
          return false
        end
        if count < max and m(s, j, function(x)
          if x == j and count >= min then return false end
          return try(x, count + 1)
        end) then return true end
        if count >= min then return k(j) end
        return false
      end
      return try(i, 0)
    end
  end

  local function seq()
    local parts = {}
    while pos <= n do
      local c = peek()
      if c == "|" or c == ")" then break end
      local m, assertion = atom()
      local min, max, lazy = quantifier()
      if min then
        if assertion and c ~= "(" then fail("nothing to repeat") end
        m = repeat_matcher(m, min, max, lazy)
      end
      parts[#parts + 1] = m
    end
    if #parts == 0 then return function(s, i, k) return k(i) end end
    if #parts == 1 then return parts[1] end
    local function chain(idx)
      local m = parts[idx]
      if idx == #parts then return m end
      local rest = chain(idx + 1)
      return function(s, i, k) return m(s, i, function(j) return rest(s, j, k) end) end
    end
    return chain(1)
  end

  function parse_alt()
    local alts = {seq()}
    while peek() == "|" do
      pos = pos + 1
      alts[#alts + 1] = seq()
    end
    if #alts == 1 then return alts[1] end
    return function(s, i, k)
      for _, a in ipairs(alts) do if a(s, i, k) then return true end end
      return false
    end
  end

  local root = parse_alt()
  if pos <= n then fail("unmatched )") end
  local function yes() return true end
  -- test(s) -> true when the pattern matches somewhere in s
  return function(s)
    local i = 1
    while true do
      if root(s, i, yes) then return true end
      if i > #s then return false end
      local _, nx = utf8_at(s, i)
      i = nx
    end
  end
end

-- regex(pattern, options) -> test(s). Options: a string of flags ("i", "m", "s", "u"; others
-- are ignored, as the server does).
-- compile(pattern, options) -> test(s), true when the pattern matches somewhere in s. Options:
-- MongoDB's $options letters; i, m and s are used (x and others are ignored, as before).
function M.compile(pattern, options)
  if type(pattern) ~= "string" then ferror("$regex needs a string pattern") end
  local flags = {}
  for f in tostring(options or ""):gmatch(".") do
    if f == "i" or f == "m" or f == "s" then flags[f] = true end
  end
  return regex_compile(pattern, flags)
end

return M
