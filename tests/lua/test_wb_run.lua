-- api.run against the W&B test server: every field equals what the server stores, config is
-- unwrapped, path forms and URLs resolve, caching and flush, errors raise CommError.
local t = require "testlib"
local wb = require "wbtest"

local stored = wb.stored("rw-team/vision/abc123xy")
wb.clear_requests()

local run = api.run("rw-team/vision/abc123xy")
t.eq(wb.count("Run"), 1, "one Run query")
t.eq(run.id, "abc123xy", "run.id is the run id")
t.eq(run.name, stored.displayName, "run.name is the display name")
t.eq(run.display_name, stored.displayName)
t.eq(run.state, stored.state)
t.eq(run.storage_id, stored.id)
t.eq(run.entity, "rw-team")
t.eq(run.project, "vision")
t.eq(run.path, "rw-team/vision/abc123xy")
t.eq(run.url, wb.base:gsub("://api%.", "://app.") .. "/rw-team/vision/runs/abc123xy", "url")
t.eq(run.group, stored.group)
t.eq(run.job_type, stored.jobType)
t.eq(run.created_at, stored.createdAt)
t.eq(run.heartbeat_at, stored.heartbeatAt)
t.eq(run.tags, stored.tags, "tags")
t.eq(run.user.username, stored.user.username)
t.eq(run.last_step, stored.lastStep, "last_step from historyKeys")

-- config: every key unwrapped from {value, desc}, internal keys hidden, values lossless
local n = 0
for k, v in pairs(stored.config_decoded) do
  if k ~= "_wandb" and k ~= "wandb_version" then
    n = n + 1
    t.eq(run.config[k], v.value, "config." .. k)
  end
end
t.ok(n >= 5, "config has keys")
t.eq(run.config._wandb, nil, "_wandb hidden from config")
t.eq(math.type(run.config.seed), "integer", "int64 config value stays an integer")
t.eq(run.rawconfig._wandb ~= nil, true, "rawconfig keeps _wandb")

-- summary: NaN, 17-digit floats, big ints, nested, exactly as stored
for k, v in pairs(stored.summary_decoded) do t.eq(run.summary[k], v, "summary." .. k) end
t.eq(run.summary.loss, 0.30000000000000004, "17-digit float")
t.eq(run.summary.big, 9007199254740993, "2^53+1 stays exact")

-- path forms and the cache: one request per distinct run until flush
wb.clear_requests()
t.ok(api.run("rw-team/vision/runs/abc123xy") == run, "entity/project/runs/id is the same cached run")
t.ok(api.run("https://wandb.ai/rw-team/vision/runs/abc123xy?workspace=user") == run, "a run URL")
t.ok(api.run("vision/abc123xy") == run, "project/id with WANDB_ENTITY")
t.ok(api.run("rw-team/vision:abc123xy") == run, "entity/project:id")
t.eq(wb.count("Run"), 0, "cached: no request")
api.flush()
local again = api.run("rw-team/vision/abc123xy")
t.eq(wb.count("Run"), 1, "after flush: one request")
t.ok(again ~= nil and again.id == "abc123xy", "reloaded")

-- load(true) re-fetches and sees server-side changes
wb.admin("POST", "runs/rw-team/vision/abc123xy", {notes = "changed on the server"})
t.eq(again.notes, stored.notes, "not refreshed until load")
again:load(true)
t.eq(again.notes, "changed on the server", "load(true) refreshed")

-- metadata: wandb-metadata.json through RunFiles + download
local md = run.metadata
t.ok(md and md.git and md.git.remote == "https://github.com/rw-team/vision.git", "metadata git remote")
t.ok(md and #md.git.commit == 40, "metadata git commit")

-- errors: an unknown run, a bad path, a bad key, a GraphQL error
local ok, err = pcall(api.run, "rw-team/vision/nope0000")
t.ok(not ok and getmetatable(err) and getmetatable(err).__name == "runwatch.CommError", "unknown run raises CommError")
t.ok(tostring(err):find("Could not find run rw-team/vision/nope0000", 1, true), tostring(err))
t.checkerr("missing run id", api.run, "/")
t.checkerr("too many parts", api.run, "a/b/c/d/e")

local bad = api.Api{api_key = "rwtest_wrong_key_0123456789abcdef0123456789abcd"}
ok, err = pcall(bad.run, "rw-team/vision/abc123xy")
t.ok(not ok and err.status == 401, "bad key -> CommError with status 401: " .. tostring(err))
t.ok(not tostring(err):find("rwtest_wrong", 1, true), "the key is not in the message")
local short = api.Api{api_key = "short"}
ok, err = pcall(short.run, "rw-team/vision/abc123xy")
t.ok(not ok and tostring(err):find("40+ characters", 1, true), "short key rejected before any request: " .. tostring(err))

wb.admin("POST", "faults", {rules = {{match = {op = "Run"}, action = {graphql_error = "something broke server-side"}}}})
api.flush()
ok, err = pcall(api.run, "rw-team/vision/abc123xy")
t.ok(not ok and err.errors and tostring(err):find("something broke server-side", 1, true), "GraphQL error -> CommError with .errors: " .. tostring(err))
t.ok(err.exc ~= nil, "CommError.exc holds the cause")

t.done()
