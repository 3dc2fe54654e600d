-- diff.lua: value equality as W&B stores values, and tag changes with set semantics (the fast
-- path for an unchanged list gives the same answer as the full comparison).
local t = require "testlib"
local diff = require "runwatch.diff"
local json = require "runwatch.json"

local function tags(old, new) local a, r = diff.tags(old, new) return {a, r} end
t.eq(tags({"a", "b"}, {"a", "b"}), {{}, {}}, "unchanged list")
t.eq(tags({}, {}), {{}, {}}, "both empty")
t.eq(tags(nil, {"x"}), {{"x"}, {}}, "nil old")
t.eq(tags({"a", "b"}, {"b", "a"}), {{}, {}}, "order does not matter")
t.eq(tags({"a", "b"}, {"a", "c"}), {{"c"}, {"b"}}, "one swapped")
t.eq(tags({"a", "a"}, {"a"}), {{}, {}}, "duplicates are one tag")
t.eq(tags({"a"}, {"a", "b", "b"}), {{"b"}, {}}, "an added tag once")

t.ok(diff.same(1, 1) and not diff.same(1, 1.0), "1 and 1.0 differ")
t.ok(diff.same(0 / 0, 0 / 0), "NaN equals NaN")
t.ok(diff.same({a = {1, 2}}, {a = {1, 2}}) and not diff.same({a = 1}, {a = 1, b = 2}), "deep tables")
t.ok(not diff.same(json.array({}), json.object({})), "an empty array is not an empty object")
t.done()
