-- Tests of runwatch.json, the lossless JSON codec: numbers, strings, errors with offsets and paths, options.
local t = require "testlib"
local json = require "runwatch.json"

local function bits(x) return string.pack("<d", x) end
local function is_negzero(x) return x == 0 and 1 / x < 0 end

-- decode_err(s): s must not decode; returns the message.
local function decode_err(s, opts)
  local v, err = json.decode(s, opts)
  t.ok(v == nil and type(err) == "string", "expected a decode error for " .. string.format("%q", s))
  return err
end

---------------------------------------------------------------- doubles
do
  math.randomseed(20240601)
  local xs, n = {}, 0
  while n < 100000 do
    local x = string.unpack("<d", string.pack("<i8", math.random(0)))
    if x == x and x ~= math.huge and x ~= -math.huge then n = n + 1; xs[n] = x end
  end
  local text = json.encode(json.array(xs))
  local back = json.decode(text)
  local bad = 0
  for i = 1, n do
    local y = back[i]
    if math.type(y) ~= "float" or bits(y) ~= bits(xs[i]) then
      bad = bad + 1
      if bad < 5 then print(string.format("mismatch: %.17g -> %s", xs[i], tostring(y))) end
    end
  end
  t.eq(#back, n, "random doubles: count")
  t.eq(bad, 0, "random doubles round-trip bit-exactly")
  -- each one alone too, on a sample, with as few significant digits as any text that round-trips
  local function digits(s) return #(s:match("^-?([%d.]+)"):gsub("%.", ""):gsub("^0+", ""):gsub("0+$", "")) end
  local function shortest(x)
    for p = 1, 17 do
      local s = string.format("%." .. p .. "g", x)
      if tonumber(s) == x then return s end
    end
  end
  local longer = 0
  for i = 1, 3000 do
    local s = json.encode(xs[i])
    if bits(json.decode(s)) ~= bits(xs[i]) then bad = bad + 1 end
    if digits(s) > digits(shortest(xs[i])) then longer = longer + 1; print("not shortest: " .. s) end
  end
  t.eq(bad, 0, "single doubles round-trip")
  t.eq(longer, 0, "float texts are shortest")
end

-- random doubles in the ranges real data lives in (short decimals, small magnitudes)
do
  local bad = 0
  for i = 1, 20000 do
    local x = math.random() * 10 ^ math.random(-30, 30)
    if i % 3 == 0 then x = math.floor(x * 1000 + 0.5) / 1000 end
    if i % 5 == 0 then x = -x end
    local y = json.decode(json.encode(x))
    if math.type(y) ~= "float" or bits(y) ~= bits(x) then bad = bad + 1 end
  end
  t.eq(bad, 0, "realistic doubles round-trip")
end

-- the encoder's fast path for short decimals (times, losses, rates) writes what the search over
-- %.15g, %.16g, %.17g writes, byte for byte: compared with that search done here in Lua
do
  local function slow(x)
    local s
    for p = 15, 17 do
      s = string.format("%." .. p .. "g", x)
      if tonumber(s) == x then break end
    end
    if not s:find("[.en]") then s = s .. ".0" end
    return s
  end
  local diff, n = 0, 0
  local function check(x)
    n = n + 1
    local got, want = json.encode(x), slow(x)
    if got ~= want then
      diff = diff + 1
      if diff < 5 then print(string.format("fast path differs: %.17g -> %s, want %s", x, got, want)) end
    end
  end
  for i = 1, 200000 do
    local d = math.random(0, 12)
    local x = math.random(0, math.tointeger(10 ^ math.random(1, 15))) / 10 ^ d
    if i % 4 == 0 then x = x + math.random() * 10 ^ math.random(-8, 8) end
    if i % 7 == 0 then x = -x end
    if i % 11 == 0 then x = 1.7e9 + math.random(0, 10 ^ 9) / 1e6 end     -- epoch seconds with us
    if i % 13 == 0 then x = math.floor(x * 1000 + 0.5) / 1000 end
    check(x + 0.0)
  end
  for _, x in ipairs{1e-4, 1.0000000000000001e-4, 9.999999999999999e-5, 1e15, 999999999999999.0,
    99999999999999.9, 0.1 + 0.2, 1 / 3, 123456789012345.0, 12345678901234.5, 0.000123456789,
    -0.0, 0.0, 1e308, 2 ^ 53, 2 ^ 53 + 0.0, 4503599627370495.5} do check(x + 0.0) end
  t.eq(diff, 0, "fast float texts equal the %.15g..17g search (" .. n .. " values)")
end

-- json_strings: the JSON texts in the arrays under a member of that name are decoded in place
-- (history rows in a W&B answer), equal to decoding each string afterwards
do
  local rows = {}
  for i = 1, 300 do
    local row = {_step = i, loss = 1 / i, _timestamp = 1.7e9 + i / 8, name = "r\"" .. i .. "\\",
      nested = {history = {"not", "decoded"}}, u = "\u{e9}\u{1F600}"}
    if i % 50 == 0 then row.big = string.rep("x\"", 6000) end     -- past the C buffer: a boxed one
    rows[i] = json.encode(row)
  end
  rows[#rows + 1] = "not json {"
  rows[#rows + 1] = "[1, 2]"
  rows[#rows + 1] = "5"
  rows[#rows + 1] = "{\"a\": 1} trailing"
  local doc = json.encode({data = {project = {r1 = {history = json.array(rows)}, r2 = {history = "{}"},
    r3 = {other = json.array({"{\"x\": 1}"})}}}})
  local got = json.decode(doc, {json_strings = "history"})
  local want = json.decode(doc)
  for i, r in ipairs(want.data.project.r1.history) do
    local v = json.decode(r)
    if v ~= nil then want.data.project.r1.history[i] = v end
  end
  t.eq(got, want, "json_strings: rows decoded in place, as decoding each string afterwards")
  t.eq(got.data.project.r1.history[301], "not json {", "json_strings: a string that is not JSON stays a string")
  t.eq(got.data.project.r1.history[304], "{\"a\": 1} trailing", "json_strings: so does one with trailing bytes")
  t.eq(got.data.project.r2.history, "{}", "json_strings: only arrays are looked into")
  t.eq(got.data.project.r3.other[1], "{\"x\": 1}", "json_strings: only under that member")
  t.eq(got.data.project.r1.history[7].nested.history[1], "not", "json_strings: not inside the decoded rows")
  t.checkerr("json_strings must be a string", json.decode, doc, {json_strings = 5})
  t.eq(select(2, json.decode('{"history": ["{}", ]}', {json_strings = "history"})),
    "json: unexpected character ']' at byte 20", "json_strings: a syntax error of the document is reported as ever")
end

-- known shortest texts
for _, c in ipairs{
  {0.1, "0.1"}, {1.0, "1.0"}, {-1.0, "-1.0"}, {100.0, "100.0"}, {1e20, "1e+20"}, {1e15, "1e+15"},
  {1 / 3, "0.3333333333333333"}, {2 / 3, "0.6666666666666666"}, {5e-324, "5e-324"}, {-1e-323, "-1e-323"}, {9.0680925573929e-310, "9.0680925573929e-310"},
  {1.7976931348623157e308, "1.7976931348623157e+308"}, {2.2250738585072014e-308, "2.2250738585072014e-308"},
  {0.1 + 0.2, "0.30000000000000004"}, {123456789012.5, "123456789012.5"}, {1e-7, "1e-07"},
  {2 ^ 53, "9007199254740992.0"}, {2 ^ 63, "9.223372036854776e+18"}, {-2 ^ 63, "-9.223372036854776e+18"}, {0.0, "0.0"}, {-0.0, "-0.0"},
} do
  t.eq(json.encode(c[1]), c[2], "encode " .. c[2])
  local back = json.decode(c[2])
  t.ok(math.type(back) == "float" and bits(back) == bits(c[1]), "decode " .. c[2])
end

-- decimal texts that need correct rounding (fast path and strtod path)
for _, c in ipairs{
  {"0.1", 0.1}, {"1e23", 1e23}, {"8.98846567431158e307", 8.98846567431158e307},
  {"2.2250738585072011e-308", 2.2250738585072011e-308}, {"9007199254740993.0", 9007199254740992.0},
  {"0.30000000000000004", 0.30000000000000004}, {"123456789012345678901234567890", 1.2345678901234568e29},
  {"1e400", math.huge}, {"-1e400", -math.huge}, {"1e-400", 0.0}, {"4.9e-324", 5e-324},
  {"0.0000000000000000000000000001", 1e-28}, {"1" .. string.rep("0", 400) .. ".0e-400", 1.0},
  {"1E2", 100.0}, {"1e+2", 100.0}, {"1.5E-2", 0.015}, {"-0.0e5", -0.0},
} do
  local v = json.decode(c[1])
  t.ok(math.type(v) == "float" and bits(v) == bits(c[2]), "decode " .. c[1] .. " -> " .. tostring(v))
end

---------------------------------------------------------------- integers
t.eq(json.decode("9223372036854775807"), math.maxinteger, "maxinteger")
t.eq(json.decode("-9223372036854775808"), math.mininteger, "mininteger")
t.eq(json.decode("9007199254740993"), 9007199254740993, "2^53+1 stays exact")
t.eq(json.decode("-9007199254740993"), -9007199254740993, "-(2^53+1)")
t.eq(json.decode("9223372036854775808"), 9223372036854775808.0, "2^63 becomes a float")
t.eq(json.decode("-9223372036854775809"), -9223372036854775809.0, "below mininteger becomes a float")
t.eq(json.decode("18446744073709551616"), 18446744073709551616.0, "2^64 becomes a float")
t.eq(json.decode("123456789012345678901234567890"), 1.2345678901234568e29, "huge integer text")
t.eq(json.encode(math.maxinteger), "9223372036854775807")
t.eq(json.encode(math.mininteger), "-9223372036854775808")
t.eq(json.encode(9007199254740993), "9007199254740993")
t.eq(json.encode({math.mininteger, math.maxinteger, 0, -1}), "[-9223372036854775808,9223372036854775807,0,-1]")
for _, i in ipairs{0, 1, -1, 42, math.maxinteger, math.mininteger, 2 ^ 53 // 1 + 1, -(2 ^ 53 // 1) - 1} do
  t.eq(json.decode(json.encode(i)), i, "integer round trip " .. i)
end

-- integer vs float identity
t.eq(math.type(json.decode("1")), "integer")
t.eq(math.type(json.decode("1.0")), "float")
t.eq(math.type(json.decode("1e0")), "float")
t.eq(json.encode(1), "1")
t.eq(json.encode(1.0), "1.0")
t.eq(json.decode("[1,1.0]"), json.array{1, 1.0}, "1 and 1.0 stay apart")
t.eq(json.decode("-0"), 0, "-0 is integer 0")
t.eq(math.type(json.decode("-0")), "integer")
t.ok(is_negzero(json.decode("-0.0")), "-0.0 stays negative zero")
t.ok(is_negzero(json.decode(json.encode(-0.0))), "-0.0 round trip")

---------------------------------------------------------------- NaN / Infinity
do
  local v = json.decode("NaN")
  t.ok(v ~= v, "NaN decodes")
  t.eq(json.decode("Infinity"), math.huge)
  t.eq(json.decode("-Infinity"), -math.huge)
  t.eq(json.encode(0 / 0), "NaN")
  t.eq(json.encode(-(0 / 0)), "NaN")
  t.eq(json.encode(math.huge), "Infinity")
  t.eq(json.encode(-math.huge), "-Infinity")
  local a = json.decode('[NaN, Infinity, -Infinity, 1]')
  t.ok(a[1] ~= a[1] and a[2] == math.huge and a[3] == -math.huge and a[4] == 1, "in an array")
  t.eq(json.encode(a), "[NaN,Infinity,-Infinity,1]")
  for _, s in ipairs{"nan", "-NaN", "Inf", "-Inf", "infinity", "NaNa", "+Infinity", "Infinit"} do decode_err(s) end
end

---------------------------------------------------------------- null, arrays, objects
do
  local cjson = require "cjson"
  t.ok(json.null == cjson.null, "json.null is cjson.null")
  t.eq(type(json.null), "userdata")
  t.ok(json.decode("null") == json.null, "null decodes to json.null")
  t.eq(json.encode(json.null), "null")
  t.eq(json.encode(cjson.decode("[null]")), "[null]", "cjson's null encodes")
  t.eq(cjson.encode(json.decode("[null]")), "[null]", "our null encodes with cjson")
  t.ok(require("cjson.safe").decode ~= nil, "cjson.safe is preloaded")
  t.eq(json.encode(nil), "null")

  local e = json.decode("[]")
  t.ok(getmetatable(e) == json.array_mt, "arrays get array_mt")
  t.eq(#e, 0)
  t.ok(json.is_array(e), "empty decoded array is an array")
  t.eq(json.encode(e), "[]")
  local o = json.decode("{}")
  t.ok(getmetatable(o) == nil, "objects have no metatable")
  t.ok(next(o) == nil)
  t.ok(not json.is_array(o))
  t.eq(json.encode(o), "{}")
  t.eq(json.encode({}), "{}", "an empty plain table is an object")
  t.eq(json.encode(json.array{}), "[]")
  t.eq(json.encode(json.array()), "[]")
  t.eq(json.encode(json.object()), "{}")
  t.eq(json.encode(json.object{1, 2}), '{"1":1,"2":2}', "object_mt forces an object")
  t.eq(json.encode(setmetatable({}, {__jsontype = "array"})), "[]", "__jsontype array")
  t.eq(json.encode(setmetatable({5}, {__jsontype = "object"})), '{"1":5}', "__jsontype object")
  t.eq(json.encode(setmetatable({5}, {})), "[5]", "other metatables: by content")

  local nested = "[[],[[]],[[],[[[]]]],{},[{}],{\"a\":[]}]"
  t.eq(json.encode(json.decode(nested)), nested, "nested empty arrays keep their shape")
  local d = json.decode(nested)
  t.ok(getmetatable(d[2][1]) == json.array_mt, "inner empty array marked")

  t.eq(json.encode({1, 2, 3}), "[1,2,3]", "a sequence is an array")
  t.eq(json.encode({[1] = "a", [3] = "c"}), '{"1":"a","3":"c"}', "a table with holes is an object")
  t.eq(json.encode({[0] = 1}), '{"0":1}')
  t.eq(json.encode({[-5] = 1}), '{"-5":1}')
  t.eq(json.encode({1, 2, x = 3}, {sort_keys = true}), '{"1":1,"2":2,"x":3}', "mixed keys: object")
  t.eq(json.encode(json.array{1, nil, 3}), "[1,null,3]", "marked array: holes are null")
  t.checkerr("sparse array", json.encode, json.array{[1] = 1, [1000] = 2})
  t.checkerr("json.encode: array has a key that is not a positive integer at .x",
    json.encode, json.array{1, x = 2})

  t.ok(json.is_array({1, 2}), "is_array on a sequence")
  t.ok(not json.is_array({}), "is_array on an empty plain table")
  t.ok(not json.is_array({a = 1}))
  t.ok(not json.is_array("x"))
  t.ok(json.is_array(json.array{}))
  t.ok(not json.is_array(json.object{1}))
  local tab = {}
  t.ok(json.array(tab) == tab, "json.array returns its argument")
  t.ok(json.object(tab) == tab and getmetatable(tab) == json.object_mt, "json.object sets object_mt")
  t.checkerr("table expected", json.array, 5)

  -- duplicate keys: the last wins
  t.eq(json.decode('{"a":1,"a":2}').a, 2, "duplicate keys: last wins")
  -- a shared (not cyclic) table is fine
  local s = {1}
  t.eq(json.encode({s, s}), "[[1],[1]]", "a shared table is not a cycle")
end

---------------------------------------------------------------- depth
do
  local ok512 = string.rep("[", 512) .. string.rep("]", 512)
  t.ok(json.decode(ok512) ~= nil, "512 levels decode")
  t.eq(json.decode(string.rep("[", 513) .. string.rep("]", 513)), nil, "513 levels do not")
  t.eq(select(2, json.decode(string.rep("[", 513) .. string.rep("]", 513))),
    "json: nesting deeper than 512 at byte 513")
  t.eq(select(2, json.decode(string.rep('{"a":', 600) .. "1" .. string.rep("}", 600))),
    "json: nesting deeper than 512 at byte " .. (512 * 5 + 1), "objects count too")
  t.eq(select(2, json.decode("[[[1]]]", {max_depth = 2})), "json: nesting deeper than 2 at byte 3")
  t.ok(json.decode("[[1]]", {max_depth = 2}), "max_depth = 2 allows 2")
  t.ok(json.decode(string.rep("[", 5000) .. string.rep("]", 5000), {max_depth = 5000}), "deep on request")
  t.eq(select(2, json.decode(string.rep("[", 20000))), "json: nesting deeper than 512 at byte 513")

  -- many open containers, each with a long list of elements before the next one: the decoder
  -- must keep its use of the Lua stack bounded
  local parts, closes = {}, {}
  local ones = string.rep("1,", 127)
  local keys = {}
  for i = 1, 127 do keys[i] = '"k' .. i .. '":1,' end
  keys = table.concat(keys)
  for i = 1, 3000 do
    if i % 2 == 0 then parts[i] = "[" .. ones; closes[i] = "]" else parts[i] = "{" .. keys .. '"x":'; closes[i] = "}" end
  end
  local wide = table.concat(parts) .. "0" .. table.concat(closes):reverse()
  local w = json.decode(wide, {max_depth = 5000})
  t.ok(w ~= nil, "3000 wide open containers decode")
  local depth, node = 0, w
  while type(node) == "table" do depth = depth + 1; node = node.x or node[128] end
  t.eq(depth, 3000, "and keep their shape")
  t.eq(w.k127, 1)
  t.eq(json.decode(json.encode(w, {max_depth = 5000}), {max_depth = 5000}), w, "and round-trip")

  local deep = {}
  local cur = deep
  for _ = 1, 511 do cur[1] = {}; cur = cur[1] end
  t.eq(#json.encode(deep), 512 * 2 - 1 + 1, "512 levels encode")  -- 511 arrays of one, innermost {}
  cur[1] = {}
  t.checkerr("json.encode: nesting deeper than 512 at [1]", json.encode, deep)
  t.ok(json.encode(deep, {max_depth = 600}), "max_depth option on encode")
  t.checkerr("max_depth must be between", json.encode, 1, {max_depth = 0})
  t.checkerr("max_depth must be between", json.decode, "1", {max_depth = 100001})
end

---------------------------------------------------------------- strings
do
  t.eq(json.decode('"\\u00e9"'), "é")
  t.eq(json.decode('"\\u00E9\\u20AC"'), "é€")
  t.eq(json.decode('"\\ud83d\\ude00"'), "\u{1F600}", "surrogate pair")
  t.eq(json.decode('"\\uD83D\\uDE00x"'), "\u{1F600}x", "surrogate pair, upper case")
  t.eq(json.decode('"\\u0000a"'), "\0a")
  t.eq(json.decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'), "\"\\/\b\f\n\r\t", "short escapes")
  t.eq(json.decode('"\\ud800"'), "\xED\xA0\x80", "lone high surrogate: WTF-8")
  t.eq(json.decode('"\\udc00"'), "\xED\xB0\x80", "lone low surrogate: WTF-8")
  t.eq(json.decode('"\\ud800A"'), "\xED\xA0\x80A")
  t.eq(json.decode('"\\ud800\\u0041"'), "\xED\xA0\x80A", "high surrogate then a non-surrogate escape")
  t.eq(json.decode('"\\ud800\\ud800\\udc00"'), "\xED\xA0\x80\u{10000}")
  t.eq(json.decode('"\\udc00\\ud800"'), "\xED\xB0\x80\xED\xA0\x80", "reversed pair: two lone ones")
  t.eq(json.encode("\xED\xA0\x80"), '"\\ud800"', "a lone surrogate encodes as an escape")
  t.eq(json.decode(json.encode("a\xED\xB0\x80b")), "a\xED\xB0\x80b", "lone surrogates round-trip")
  t.checkerr("invalid UTF-8 in string", json.encode, "\xED\xA0\x80\xED\xB0\x80")  -- CESU-8 pair
  t.eq(json.decode('"h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"'), "hé € 😀 \u{10FFFF}", "raw UTF-8")
  t.eq(json.encode("hé€😀"), '"hé€😀"', "non-ASCII raw by default")
  t.eq(json.encode("a/b"), '"a/b"', "slash not escaped")
  t.eq(json.encode("q\"b\\"), '"q\\"b\\\\"')
  t.eq(json.encode("\0\1\8\9\10\12\13\31\127"), '"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\127"', "control chars")

  -- raw control characters inside strings are accepted (strict=False)
  t.eq(json.decode('"a\tb\nc\0d\31"'), "a\tb\nc\0d\31", "raw control characters")
  t.eq(json.decode('{"k\n":"\1"}')["k\n"], "\1")

  -- invalid UTF-8, with the offset of the bad sequence (1-based)
  t.eq(decode_err('"ab\xff"'), "json: invalid UTF-8 at byte 4")
  t.eq(decode_err('"\xC0\x80"'), "json: invalid UTF-8 at byte 2", "overlong NUL")
  t.eq(decode_err('"\xE0\x80\xAF"'), "json: invalid UTF-8 at byte 2", "overlong 3-byte")
  t.eq(decode_err('"\xED\xA0\x80"'), "json: invalid UTF-8 at byte 2", "raw surrogate")
  t.eq(decode_err('"\xF4\x90\x80\x80"'), "json: invalid UTF-8 at byte 2", "above U+10FFFF")
  t.eq(decode_err('"\xF5\x80\x80\x80"'), "json: invalid UTF-8 at byte 2")
  t.eq(decode_err('"x\xE2\x82"'), "json: invalid UTF-8 at byte 3", "truncated sequence")
  t.eq(decode_err('"x\xE2\x82'), "json: invalid UTF-8 at byte 3", "truncated at the end")
  t.eq(decode_err('"\x80"'), "json: invalid UTF-8 at byte 2", "lone continuation")
  t.eq(decode_err('"\\n\xff"'), "json: invalid UTF-8 at byte 4", "after an escape")
  t.eq(decode_err('[\xff]'), "json: invalid UTF-8 at byte 2", "outside a string")
  t.eq(decode_err('[é]'), "json: unexpected character 'é' at byte 2")
  t.eq(decode_err('{"a\xff":1}'), "json: invalid UTF-8 at byte 4", "in a key")

  -- bad escapes
  t.eq(decode_err('"\\x"'), "json: invalid escape '\\x' at byte 2")
  t.eq(decode_err('"\\u12"'), "json: invalid \\u escape at byte 2")
  t.eq(decode_err('"\\u12G4"'), "json: invalid \\u escape at byte 2")
  t.eq(decode_err('"\\ud800\\u12"'), "json: invalid \\u escape at byte 8")
  t.eq(decode_err('"abc'), "json: unexpected end of input at byte 5")
  t.eq(decode_err('"\\'), "json: unexpected end of input at byte 3")
  t.eq(decode_err('"\\u00'), "json: unexpected end of input at byte 6")

  -- long strings, with and without escapes
  local long = string.rep("abcdefghij", 100000)
  t.eq(json.decode(json.encode(long)), long, "a 1 MB string")
  local long2 = string.rep("a\"b\\c\n€", 50000)
  t.eq(json.decode(json.encode(long2)), long2, "a long string with escapes")
end

---------------------------------------------------------------- syntax errors and offsets
do
  t.eq(decode_err(""), "json: unexpected end of input at byte 1")
  t.eq(decode_err("   "), "json: unexpected end of input at byte 4")
  t.eq(decode_err("[1,2"), "json: unexpected end of input at byte 5")
  t.eq(decode_err("[1,]"), "json: unexpected character ']' at byte 4", "trailing comma")
  t.eq(decode_err('{"a":1,}'), "json: unexpected character '}' at byte 8")
  t.eq(decode_err('{"a" 1}'), "json: unexpected character '1' at byte 6")
  t.eq(decode_err("{a:1}"), "json: unexpected character 'a' at byte 2")
  t.eq(decode_err("[1 2]"), "json: unexpected character '2' at byte 4")
  t.eq(decode_err("1 2"), "json: unexpected character '2' at byte 3", "trailing data")
  t.eq(decode_err("[1]x"), "json: unexpected character 'x' at byte 4")
  t.eq(decode_err("tru"), "json: unexpected end of input at byte 4")
  t.eq(decode_err("trux"), "json: unexpected character 'x' at byte 4")
  t.eq(decode_err("nul"), "json: unexpected end of input at byte 4")
  t.eq(decode_err("[\0]"), "json: unexpected character 0x00 at byte 2")
  t.eq(decode_err("'a'"), "json: unexpected character ''' at byte 1")
  t.eq(decode_err("[1]\n\n  x"), "json: unexpected character 'x' at byte 8")

  -- malformed numbers
  for _, c in ipairs{
    {"01", "json: unexpected character '1' at byte 2"},
    {"1.", "json: unexpected end of input at byte 3"},
    {".5", "json: unexpected character '.' at byte 1"},
    {"-", "json: unexpected end of input at byte 2"},
    {"1e", "json: unexpected end of input at byte 3"},
    {"+1", "json: unexpected character '+' at byte 1"},
    {"1e+", "json: unexpected end of input at byte 4"},
    {"--1", "json: unexpected character '-' at byte 2"},
    {"-.5", "json: unexpected character '.' at byte 2"},
    {"1.e5", "json: unexpected character 'e' at byte 3"},
    {"0x10", "json: unexpected character 'x' at byte 2"},
    {"00", "json: unexpected character '0' at byte 2"},
    {"1ee5", "json: unexpected character 'e' at byte 3"},
    {"[1.]", "json: unexpected character ']' at byte 4"},
    {"-a", "json: unexpected character 'a' at byte 2"},
  } do
    t.eq(decode_err(c[1]), c[2], "malformed number " .. c[1])
  end

  -- whitespace and a byte order mark
  t.eq(json.decode(" \t\r\n[ 1 , 2 ] \n"), json.array{1, 2}, "whitespace")
  t.eq(json.decode("\xEF\xBB\xBF[1]"), json.array{1}, "UTF-8 BOM")

  -- every proper prefix of a valid document is an error, never a crash
  local doc = '{"a":[1,-2.5e-3,true,false,null,"x\\u00e9\\ud83d\\ude00\\n",{"b":[]},NaN,-Infinity],'
    .. '"c":{"d":"\xC3\xA9\xF0\x9F\x98\x80"},"e":-0.0,"f":12345678901234567890}'
  t.ok(json.decode(doc) ~= nil, "the full document decodes")
  local bad = 0
  for i = 0, #doc - 1 do
    local v, err = json.decode(doc:sub(1, i))
    if v ~= nil or type(err) ~= "string" or not err:match("^json: .+ at byte %d+$") then
      bad = bad + 1
      print("prefix " .. i .. ": " .. tostring(err))
    end
  end
  t.eq(bad, 0, "every prefix fails cleanly")
end

---------------------------------------------------------------- options
do
  t.eq(json.encode("é😀\127", {ascii = true}), '"\\u00e9\\ud83d\\ude00\\u007f"', "ascii")
  t.eq(json.encode({["é"] = 1}, {ascii = true}), '{"\\u00e9":1}', "ascii keys")
  t.eq(json.decode(json.encode("é😀\xED\xA0\x80", {ascii = true})), "é😀\xED\xA0\x80", "ascii round trip")
  t.eq(json.encode({b = 1, a = 2, B = 3, [10] = 4, [9] = 5, ["a\0"] = 6}, {sort_keys = true}),
    '{"10":4,"9":5,"B":3,"a":2,"a\\u0000":6,"b":1}', "sort_keys: bytewise")
  t.eq(json.encode({z = {y = 1, x = 2}, ["\xC3\xA9"] = 0}, {sort_keys = true}),
    '{"z":{"x":2,"y":1},"é":0}', "nested and non-ASCII keys sorted bytewise")
  t.eq(json.encode({a = {1, 2}, b = {}, c = json.array{}}, {indent = 2, sort_keys = true}),
    '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {},\n  "c": []\n}', "indent")
  t.eq(json.encode({1, {2}}, {indent = 0}), "[\n1,\n[\n2\n]\n]", "indent = 0 like Python")
  t.eq(json.encode({a = {1, 2}, b = "x"}, {python = true, sort_keys = true}), '{"a": [1, 2], "b": "x"}', "python")
  t.eq(json.encode({a = {1}}, {python = true, indent = 1}), '{\n "a": [\n  1\n ]\n}', "python + indent")
  t.eq(json.encode({["$or"] = {{["config.experiment_name"] = "foo"}}}, {python = true}),
    '{"$or": [{"config.experiment_name": "foo"}]}', "a W&B filter the way the SDK formats it")
  t.checkerr("unknown option 'indnet'", json.encode, {}, {indnet = 2})
  t.checkerr("unknown option 'x'", json.decode, "1", {x = 1})
  t.checkerr("indent must be between", json.encode, {}, {indent = -3})
  t.checkerr("bad field 'ascii'", json.encode, {}, {ascii = "yes"})
  t.checkerr("bad field 'indent'", json.encode, {}, {indent = 1.5})
  t.checkerr("table expected", json.encode, {}, "sorted")
end

---------------------------------------------------------------- encode errors name their path
do
  t.checkerr("json.encode: invalid UTF-8 in string at .config.name", json.encode, {config = {name = "\xff"}})
  t.checkerr("json.encode: cannot encode function at .a[3]", json.encode, {a = {1, 2, print}})
  t.checkerr("json.encode: cannot encode function at top level", json.encode, print)
  t.checkerr("json.encode: cannot encode thread at [1]", json.encode, {coroutine.create(print)})
  t.checkerr("json.encode: cannot encode userdata at .f", json.encode, {f = io.stdout})
  t.checkerr('json.encode: cannot encode function at ["a key"].x', json.encode, {["a key"] = {x = print}})
  t.checkerr('json.encode: cannot encode function at [5]', json.encode, {[5] = print, a = 1})
  t.checkerr("json.encode: cannot encode float key 1.5 at .t", json.encode, {t = {[1.5] = 1}})
  t.checkerr("json.encode: cannot encode key of type boolean at top level", json.encode, {[true] = 1})
  t.checkerr('json.encode: invalid UTF-8 in key at .a["\\xFF"]', json.encode, {a = {["\xff"] = 1}})
  t.checkerr("json.encode: cannot encode float key", json.encode, {[0.5] = 1}, {sort_keys = true})
  t.checkerr("json.encode: cannot encode function at .b", json.encode, {a = 1, b = print}, {sort_keys = true})
  t.checkerr("json.encode: cannot encode function at [2][1]", json.encode, {{}, {print}}, {indent = 2})
  -- cycles
  local a = {}
  a.self = a
  t.checkerr("json.encode: reference cycle at .self", json.encode, a)
  local b = {1, {2, {}}}
  b[2][2][1] = b
  t.checkerr("json.encode: reference cycle at [2][2][1]", json.encode, b)
  local c = json.array{}
  c[1] = {x = c}
  t.checkerr("reference cycle at [1].x", json.encode, c)
  -- misuse of decode
  t.checkerr("string expected", json.decode, nil)
  t.checkerr("string expected", json.decode, 123)
  t.checkerr("string expected", json.decode, {})
  t.checkerr("table expected", json.decode, "1", "opts")
  t.checkerr("bad argument #1", json.encode)
end

---------------------------------------------------------------- the decimal point ignores setlocale
do
  local old = os.setlocale(nil, "numeric")
  local set
  for _, name in ipairs{"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE", "fr_FR"} do
    if os.setlocale(name, "numeric") then set = name; break end
  end
  if set and string.format("%.1f", 1.5) == "1,5" then
    t.eq(json.decode("1.5"), 1.5, "decode under " .. set)
    t.eq(json.decode("[0.25e1]")[1], 2.5, "decode under " .. set)
    t.eq(json.encode(1.5), "1.5", "encode under " .. set)
    t.eq(json.encode(0.1), "0.1", "encode under " .. set)
    t.eq(json.decode(json.encode(1 / 3)), 1 / 3, "round trip under " .. set)
  else
    print("note: no comma-decimal locale installed; locale test skipped")
  end
  os.setlocale(old, "numeric")
end

---------------------------------------------------------------- a W&B-like document round trip
do
  local doc = [==[{"config":{"lr":{"value":0.0003,"desc":null},"epochs":{"value":100},
    "layers":{"value":[512,256,[]]},"name":{"value":"r\u00e9sum\u00e9 \ud83d\ude80"},
    "seed":{"value":9007199254740993},"flags":{"value":{}}},
    "summary":{"loss":NaN,"best":-Infinity,"acc":0.9123456789012345,"_step":12345,
    "_wandb":{"runtime":3601},"hist":{"_type":"histogram","bins":[0.1,0.2],"values":[]}}}]==]
  local v = json.decode(doc)
  t.eq(math.type(v.config.seed.value), "integer")
  t.eq(v.config.seed.value, 9007199254740993)
  local again = json.decode(json.encode(v))
  t.eq(again, v, "decode(encode(decode(doc))) equals decode(doc)")
  t.ok(json.is_array(again.summary.hist.values), "empty array survives")
  t.ok(not json.is_array(again.config.flags.value), "empty object survives")
  t.eq(json.encode(again, {sort_keys = true}), json.encode(v, {sort_keys = true}), "stable text")
  local sorted = json.encode(v, {sort_keys = true})
  t.eq(json.encode(json.decode(sorted), {sort_keys = true}), sorted, "sorted text is a fixed point")
end

---------------------------------------------------------------- speed: about 10 MB
do
  local rows = {}
  for i = 1, 40000 do
    rows[i] = {_step = i, _runtime = i * 1.25, loss = 1 / i, acc = math.random(), lr = 3e-4,
      name = "run-" .. i, tags = json.array{"baseline", "sweep-é"}, ok = i % 2 == 0, extra = json.null,
      hist = {1, 2, 3, 4, 5, 6, 7, 8}}
  end
  local text = json.encode(rows)
  rows = nil
  local v, dt = nil, math.huge
  for _ = 1, 3 do  -- the best of three, each after a full collection
    v = nil
    collectgarbage()
    local t0 = os.clock()
    v = json.decode(text)
    dt = math.min(dt, os.clock() - t0)
  end
  local t1 = os.clock()
  local text2 = json.encode(v)
  local et = os.clock() - t1
  t.eq(#v, 40000)
  t.eq(#text2, #text, "re-encoded size")
  print(string.format("decode: %.1f MB in %.1f ms (%.0f MB/s); encode: %.1f ms (%.0f MB/s)",
    #text / 1e6, dt * 1000, #text / 1e6 / dt, et * 1000, #text / 1e6 / et))
  t.ok(dt < 2.0, "decoding ~10 MB takes less than 2 s even in a sanitizer build")
end

t.done()
