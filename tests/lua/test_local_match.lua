-- Unit tests of runwatch.local.match: Mongo filter and order cases (the W&B test server's own cases, tests/server/test/runs.test.js), dates, RE2 regexes and misuse.
local t = require "testlib"
local match = require "runwatch.local.match"
local json = require "runwatch.json"
local filters = require "runwatch.filters"

local function fake_run(seq, o)
  local r = {seq = seq, id = "run" .. seq, name = "r" .. seq, state = "finished", tags = json.array({}),
    user = {username = "ada"}, created_at = string.format("2024-01-0%dT00:00:00", seq), heartbeat_at = json.null,
    config = "{}", summary = "{}"}
  for k, v in pairs(o or {}) do r[k] = v end
  return r
end

local runs = {
  fake_run(1, {config = '{"lr": {"value": 0.1}, "opt": {"value": {"name": "adam", "betas": [0.9, 0.99]}}}',
    summary = '{"loss": NaN, "acc": 0.5, "val": {"loss": 1}}', tags = json.array({"a", "b"})}),
  fake_run(2, {config = '{"lr": {"value": 0.01, "desc": null}, "opt": {"value": {"name": "sgd"}}}',
    summary = '{"loss": 0.3, "acc": 0.9, "big": 9007199254740993}', tags = json.array({"b"}), state = "running"}),
  fake_run(3, {config = '{"lr": 0.001}', summary = '{"loss": Infinity, "name": "résumé-β"}',
    tags = json.array({}), group = "g1"}),
}

-- the filter goes through the same encoding the API uses (a JSON string), like the server sees it
local function sel(f, list)
  local pred = match.compile(json.encode(f, {python = true, sort_keys = true}))
  local out = {}
  for _, r in ipairs(list or runs) do if pred(r) then out[#out + 1] = r.seq end end
  return out
end
local A = json.array

t.eq(sel({}), {1, 2, 3})
t.eq(sel({state = "running"}), {2})
t.eq(sel({state = {["$eq"] = "finished"}}), {1, 3})
t.eq(sel({state = {["$ne"] = "finished"}}), {2})
t.eq(sel({["config.lr"] = {["$gt"] = 0.005}}), {1, 2})
t.eq(sel({["config.lr.value"] = {["$gte"] = 0.01}}), {1, 2})
t.eq(sel({["config.lr"] = {["$lt"] = 0.01}}), {3})
t.eq(sel({["config.lr"] = {["$lte"] = 0.01}}), {2, 3})
t.eq(sel({["config.opt.name"] = "adam"}), {1})
t.eq(sel({["config.opt.value.name"] = {["$in"] = A({"sgd", "x"})}}), {2})
t.eq(sel({["config.opt.betas"] = 0.99}), {1})
t.eq(sel({["config.opt.name"] = {["$nin"] = A({"sgd"})}}), {1, 3})
t.eq(sel({["config.opt"] = {["$exists"] = false}}), {3})
t.eq(sel({["summary_metrics.val.loss"] = {["$exists"] = true}}), {1})
t.eq(sel({["summary_metrics.loss"] = {["$gt"] = 0}}), {2, 3}, "NaN never compares; Infinity does")
t.eq(sel({["summary_metrics.big"] = {["$gt"] = 9007199254740991}}), {2})
t.eq(sel({["summary_metrics.name"] = {["$regex"] = "^rés"}}), {3})
t.eq(sel({displayName = {["$regex"] = "R[12]", ["$options"] = "i"}}), {1, 2})
t.eq(sel({display_name = {["$not"] = {["$regex"] = "r1"}}}), {2, 3})
t.eq(sel({tags = "b"}), {1, 2})
t.eq(sel({tags = {["$in"] = A({"a"})}}), {1})
t.eq(sel({tags = {["$nin"] = A({"b"})}}), {3})
t.eq(sel({tags = {["$ne"] = "b"}}), {3})
t.eq(sel({group = json.null}), {1, 2})
t.eq(sel({["$or"] = A({{state = "running"}, {group = "g1"}})}), {2, 3})
t.eq(sel({["$and"] = A({{tags = "b"}, {["summary_metrics.acc"] = {["$gte"] = 0.5}}})}), {1, 2})
t.eq(sel({["$nor"] = A({{state = "running"}, {group = "g1"}})}), {1})
t.checkerr("unknown filter operator $not", match.compile, '{"$not": {"state": "running"}}')  -- no top-level $not in Mongo
t.eq(sel({tags = "b", state = "finished"}), {1}, "implicit AND")
t.eq(sel({createdAt = {["$gte"] = "2024-01-02T00:00:00Z"}}), {2, 3})
t.eq(sel({created_at = {["$lt"] = "2024-01-02"}}), {1})
t.eq(sel({username = "ada"}), {1, 2, 3})
t.eq(sel({["config.lr"] = "0.1"}), {}, "type-bracketed: a string never equals a number")
t.checkerr("unknown filter operator $foo", match.compile, '{"state": {"$foo": 1}}')
t.checkerr("unknown filter operator $xor", match.compile, '{"$xor": []}')
t.checkerr("invalid filters JSON", match.compile, '{"state": ')

-- the API's own filter forms: summary.X is sent as summary_metrics.X
local function sel_api(f)
  local pred = match.compile(filters.encode(f))
  local out = {}
  for _, r in ipairs(runs) do if pred(r) then out[#out + 1] = r.seq end end
  return out
end
t.eq(sel_api({["summary.acc"] = {["$gt"] = 0.6}}), {2}, "summary.X")
t.eq(sel_api({["tags.a"] = true}), {1}, "tags.<name>")
t.eq(sel_api({sweep = json.null}), {1, 2, 3}, "sweep alias, null")
t.eq(sel_api({["config.missing"] = json.null}), {1, 2, 3}, "a missing key equals null")
t.eq(sel_api({["config.opt.betas"] = {["$size"] = nil, ["$exists"] = true}}), {1})
t.eq(sel(nil), {1, 2, 3}, "no filter")
t.eq(sel_api({duration = {["$gte"] = 0}}), {}, "duration is null without runtime or heartbeat")
local withrt = {fake_run(1, {runtime = 30}), fake_run(2, {summary = '{"_runtime": 90}'}),
  fake_run(3, {created_at = "2024-01-03T00:00:00", heartbeat_at = "2024-01-03T00:02:00"})}
t.eq(sel({duration = {["$gt"] = 60}}, withrt), {2, 3}, "duration from runtime, _runtime or heartbeat - created")

-- dates
t.eq(match.date_ms("2024-01-02Z"), 1704153600000)
t.eq(match.date_ms("2024-01-02"), 1704153600000)
t.eq(match.date_ms("2024-01-02T00:00:00.123Z"), 1704153600123)
t.eq(match.date_ms("2024-01-02T00:00:00+02:00"), 1704146400000)
t.eq(match.date_ms("2024-01-02T00:00:00+0200"), 1704146400000)
t.eq(match.date_ms("2024-01-02 00:00:00"), 1704153600000)
t.eq(match.date_ms("1969-12-31T23:59:59Z"), -1000)
t.ok(match.date_ms("garbage") ~= match.date_ms("garbage"), "not a date: NaN")

-- order: missing keys last both ways; ties by seq in the order's direction
local orun = {fake_run(1, {summary = '{"a": 2}'}), fake_run(2, {summary = "{}"}),
  fake_run(3, {summary = '{"a": 1}'}), fake_run(4, {summary = '{"a": 2}'})}
local function sorted(o)
  local ord = match.order(o)
  local entries = {}
  for _, r in ipairs(orun) do entries[#entries + 1] = {k = ord.sort_key(r), seq = r.seq} end
  match.sort(entries, ord)
  local out = {}
  for i, e in ipairs(entries) do out[i] = e.seq end
  return out
end
t.eq(sorted("+summary_metrics.a"), {3, 1, 4, 2})
t.eq(sorted("-summary_metrics.a"), {4, 1, 3, 2})
t.eq(sorted("summary_metrics.a"), {3, 1, 4, 2})
t.eq(sorted("-created_at"), {4, 3, 2, 1})
t.eq(sorted("+createdAt"), {1, 2, 3, 4})
t.eq(sorted(filters.order("-summary.a")), {4, 1, 3, 2}, "order as the API encodes it")
-- config keys order through .value
local crun = {fake_run(1, {config = '{"lr": {"value": 0.5}}'}), fake_run(2, {config = '{"lr": {"value": 0.1}}'}),
  fake_run(3, {config = "{}"})}
orun = crun
t.eq(sorted(filters.order("config.lr")), {2, 1, 3})
t.eq(sorted(filters.order("-config.lr")), {1, 2, 3})
-- mixed types follow the BSON order: numbers < strings
orun = {fake_run(1, {summary = '{"a": "x"}'}), fake_run(2, {summary = '{"a": 5}'}),
  fake_run(3, {summary = '{"a": NaN}'}), fake_run(4, {summary = '{"a": true}'})}
t.eq(sorted("+summary_metrics.a"), {3, 2, 1, 4}, "NaN < numbers < strings < booleans")

-- regular expressions: RE2 syntax, as W&B documents for $regex (local/regex.lua)
local function re(p, s, o) return match.regex(p, o)(s) end
t.ok(re("^abc$", "abc")); t.ok(not re("^abc$", "abcd"))
t.ok(re("a.c", "xabcx")); t.ok(not re("a.c", "a\nc")); t.ok(re("a.c", "a\nc", "s"))
t.ok(re("^b", "a\nb", "m")); t.ok(not re("^b", "a\nb"))
t.ok(re("colou?r", "color")); t.ok(re("colou?r", "colour"))
t.ok(re("^a{2,3}$", "aaa")); t.ok(not re("^a{2,3}$", "aaaa")); t.ok(re("^a{2}$", "aa"))
t.ok(re("a{,2}", "a{,2}"), "a brace that is not a quantifier is literal")
t.ok(re("^(ab)+$", "ababab")); t.ok(not re("^(ab)+$", "ababa"))
t.ok(re("^(?:cat|dog)s?$", "dogs")); t.ok(not re("^(?:cat|dog)s?$", "cow"))
t.ok(re("^[a-c]+\\d*$", "abc123")); t.ok(not re("^[^a-c]+$", "xbz"))
t.ok(re("\\bfoo\\b", "a foo b")); t.ok(not re("\\bfoo\\b", "afoob"))
t.ok(re("\\w+@\\w+\\.com", "x me@host.com y"))
t.ok(re("^\\s*$", " \t ")); t.ok(re("\\S", " x "))
t.ok(re("^.{2}$", "é€"), "a dot is one code point")
t.ok(re("^[é-ë]$", "ê"), "ranges of code points")
t.ok(re("LOSS", "val_loss", "i")); t.ok(not re("LOSS", "val_loss"))
t.ok(re("^a.*?b$", "axxb")); t.ok(re("^(a|ab)c$", "abc"), "backtracking into alternatives")
t.checkerr("lookaround is not RE2 syntax", match.regex, "foo(?=bar)")
t.checkerr("lookaround is not RE2 syntax", match.regex, "foo(?!bar)")
t.ok(re("(?i)loss", "VAL_LOSS"), "inline flags"); t.ok(re("a(?i:B)c", "abc")); t.ok(not re("a(?i:b)C", "abc"), "scoped to the group")
t.ok(re("^(?P<word>\\w+)$", "abc"), "(?P<name>...) groups")
t.ok(re("^[[:digit:]]+$", "123")); t.ok(not re("^[[:alpha:]]+$", "a1"))
t.ok(re("\\Aab\\z", "ab")); t.ok(not re("\\Aab\\z", "xab"))
t.ok(re("^[]a]+$", "]a]"), "] first in a class is literal")
t.ok(re("a.c", "a\rc"), "only \\n stops a dot")
t.ok(re("^a*a*a*b$", string.rep("a", 20) .. "b"))
t.ok(re("x", string.rep("y", 20000) .. "x"), "long subject")
t.ok(re("^.*$", string.rep("z", 20000)), "long greedy run")
t.ok(re("\\.", "a.b")); t.ok(not re("\\.", "ab"))
t.ok(re("^\\x{e9}$", "é")); t.ok(re("^\\x41$", "A"))
t.checkerr("\\u is not RE2 syntax", match.regex, "^\\u00e9$")
t.checkerr("invalid $regex", match.regex, "[]")
t.ok(re("", "anything"), "the empty pattern matches")
t.checkerr("invalid $regex", match.regex, "(ab")
t.checkerr("invalid $regex", match.regex, "ab)")
t.checkerr("invalid $regex", match.regex, "[ab")
t.checkerr("invalid $regex", match.regex, "*a")
t.checkerr("backreferences are not supported", match.regex, "(a)\\1")
t.checkerr("invalid $regex", match.compile, '{"name": {"$regex": "(x"}}')
t.checkerr("$options without $regex", match.compile, '{"name": {"$options": "i"}}')

t.done()
