-- The one path every side effect takes (W&B writes, alerts, deletions, tags, notes, Slack,
-- webhooks, a rule's own function): checked, shown in a dry run (and nothing else), performed
-- at once or deferred to the durable outbox as the calling task's context says, delivered by one
-- deliverer per process (claimed, in flight, released on failure, backed off per destination),
-- audited exactly once. The kinds themselves are entries of effect_kinds.lua.
--
-- Deferral: inside a watch handler (and in a rule's notifications) the task carries a context
-- {defer = true, ...} (task.with_context): the effect is written to the outbox in the run's
-- state transaction, so it commits or rolls back with the cursor, and is delivered after the
-- commit outside the tick. Any other job performs its effects at once and gets the result.
local core = require "runwatch.core"
local json = require "runwatch.json"
local task = require "runwatch.task"
local timer = require "runwatch.timer"
local retry = require "runwatch.retry"
local state = require "runwatch.state"
local kinds = require "runwatch.effect_kinds"

local M = {}
M.kinds = kinds

-- {====== apis and functions effects refer to by name (an outbox entry outlives objects)

local apis = {}          -- id -> api
local api_ids = setmetatable({}, {__mode = "k"})
local functions = {}     -- name -> a rule's notify function
M.functions = functions

-- register_api(api, id) -> id: the name outbox entries use for this api. The same script makes
-- the same ids after a restart (the default api is "default"; others are named by their
-- server and numbered in creation order).
function M.register_api(api, id)
  local n, base = 1, id
  while apis[id] and apis[id] ~= api do n = n + 1; id = base .. "#" .. n end
  apis[id] = api
  api_ids[api] = id
  return id
end

function M.api_id(api)
  local id = api_ids[api]
  if not id then error("this api is not registered for effects", 3) end
  return id
end

function M.register_function(name, fn) functions[name] = fn end

-- default_api(): set by api.lua (which sits above this module): the default api, created on
-- first use, for entries queued by a previous process before anything here named it
M.default_api = nil

local function resolve_api(id)
  return apis[id] or (id == "default" and M.default_api and M.default_api()) or nil
end

-- }======

-- {====== performing

local token = string.format("%d:%.6f:%d", core.getpid(), core.time(), math.random(1, 1 << 30))
M.token = token            -- this process and Lua state, as the claim on outbox entries
local seq = 0
local function fresh_key()
  seq = seq + 1
  return "rw:" .. token .. ":" .. seq
end

local function where()
  local t = task.current()
  return t and t.script, t and t.job
end

local function log_outcome(k, target, outcome, detail, meta)
  local script, job = where()
  core.log(outcome == "ok" and "info" or "warn", k.verb .. " " .. tostring(target) .. ": " .. outcome,
    {detail = detail, rule = meta and meta.rule}, meta and meta.script or script, meta and meta.job or job)
end

local function audit(k, p, outcome, detail, meta)
  local extra
  if meta and (meta.rule or meta.watch) then extra = {rule = meta.rule, watch = meta.watch} end
  state.audit(k.verb, k.target(p), outcome, detail, extra)
end

-- The delivery context a kind's perform gets: its api and backend, the idempotency key, what a
-- previous delivery recorded (progress) and how to record it.
local function delivery(p, key, entry)
  local d = {key = key, functions = functions, progress = entry and entry.progress}
  if p.api then
    d.api = resolve_api(p.api)
    if not d.api then     -- the scripts may create it later (a reload): not a final failure
      return nil, {message = "no api named '" .. p.api .. "' in the running scripts", retryable = true}
    end
    d.backend = rawget(d.api, "_").backend
  end
  if entry then
    d.save_progress = function(t)
      state.outbox_progress(entry.id, t)
      entry.progress = t
    end
  end
  return d
end

local function message(e)
  if type(e) == "table" then
    local mt = getmetatable(e)
    if mt and mt.__tostring then return tostring(e) end
    return tostring(e.message or "error")
  end
  return tostring(e)
end

-- runs a kind's perform: result, or nil and an error table (a raised error is caught)
local function attempt(k, p, d)
  local ok, res, err = pcall(k.perform, p, d)
  if not ok then
    err = res
    if type(err) ~= "table" then err = {message = tostring(err), retryable = false} end
    return nil, err
  end
  if res == nil then return nil, (type(err) == "table" and err or {message = tostring(err), retryable = false}) end
  return res
end

-- dry run: print the plan (reads happen: a preview may read the run), change nothing anywhere
local function dry(k, p, meta)
  local d = delivery(p, "dry-run")
  local lines = {}
  if d then
    local ok, l = pcall(k.preview, p, d)
    if ok then lines = l or {} else lines = {"  (cannot preview: " .. message(l) .. ")"} end
  end
  local out = {"[dry-run] would " .. k.verb .. " " .. tostring(k.target(p)) ..
    (meta and meta.rule and (" (rule " .. meta.rule .. ")") or "")}
  for _, l in ipairs(lines) do out[#out + 1] = l end
  core.write(table.concat(out, "\n") .. "\n")
  local script, job = where()
  core.log("info", k.verb .. " " .. tostring(k.target(p)) .. ": dry-run", {rule = meta and meta.rule}, script, job)
  return {dry_run = true}
end

-- perform(kind, payload [, opts]) -> result, or nil and the error (the world's failures); a
-- payload that breaks the kind's rules raises at opts.level (misuse). opts: key (the dedupe key
-- of an outbox entry; a rule's notifications have stable ones), rule, watch (for the audit).
-- Inside a deferring context the effect is queued: the result is {queued = true}.
function M.perform(kind, p, opts)
  opts = opts or {}
  local level = (opts.level or 1) + 1
  local k = kinds[kind]
  if not k or type(k) ~= "table" or not k.perform then error("unknown effect kind '" .. tostring(kind) .. "'", level) end
  k.check(p, level)
  local ctx = task.context()
  local meta = {rule = opts.rule, watch = opts.watch or (ctx and ctx.watch)}
  if core.options().dry_run then return dry(k, p, meta) end
  if ctx and ctx.defer then
    local key = opts.key
    if not key then
      ctx.seq = (ctx.seq or 0) + 1
      key = table.concat({"handler", tostring(ctx.watch), tostring(ctx.run), ctx.tick, tostring(ctx.seq)}, "|")
    end
    state.outbox_add(key, kind, {p = p, meta = meta})
    if not state.in_transaction() then M.kick() end
    return {queued = true}
  end
  local d, derr = delivery(p, opts.key or fresh_key())
  local res, err
  if d then res, err = attempt(k, p, d) else err = derr end
  local outcome = res ~= nil and "ok" or ("failed: " .. message(err))
  local detail = k.detail(p, res)
  -- the effect happened (or failed) whatever the store says: a store another process writes,
  -- or a full disk, costs the audit row (logged), not the result
  local aok, aerr = pcall(audit, k, p, outcome, detail, meta)
  if not aok then core.log("warn", "audit log not written: " .. message(aerr)) end
  log_outcome(k, k.target(p), outcome, detail, meta)
  if res ~= nil then return res end
  return nil, err
end

-- }======

-- {====== delivery of the outbox: one deliverer per Lua state, outside every tick

M.per_destination = 4      -- deliveries in flight to one destination
M.destinations = 16        -- destinations served at once

local D = {again = false, blocked = {}, adopted = false, inflight = {}, performed = {}}
M._deliverer = D

-- settles an entry for good: marks it done and audits it, in one transaction
local function settle(e, k, outcome, detail)
  local meta = e.payload.meta or {}
  state.transaction(function()
    state.outbox_done(e.id, outcome)
    audit(k, e.payload.p, outcome, detail, meta)
  end)
  log_outcome(k, k.target(e.payload.p), outcome, detail, meta)
end

local function deliver_one(e, dest)
  local k = kinds[e.action]
  local p = e.payload and e.payload.p
  if not k or type(k) ~= "table" or not k.perform or type(p) ~= "table" then
    state.outbox_done(e.id, "failed: unknown effect kind '" .. tostring(e.action) .. "'")
    return
  end
  if not state.outbox_claim(e.id, token) then return end
  local d, derr = delivery(p, e.key, e)
  local res, err
  if d then res, err = attempt(k, p, d) else err = derr end
  if res ~= nil then
    local outcome = (type(res) == "table" and res.already) and "ok (already done)" or "ok"
    -- remembered until recorded: if recording fails (a full disk), the next pass records it
    -- again instead of performing it again
    D.performed[e.id] = {outcome = outcome, detail = k.detail(p, res)}
    settle(e, k, outcome, D.performed[e.id].detail)
    D.performed[e.id] = nil
    return
  end
  local msg = message(err)
  local ambiguous = err.sent_maybe and err.retryable ~= false
  if ambiguous and k.on_ambiguous == "drop" then
    settle(e, k, "unknown: " .. msg .. " (not repeated: it may have been performed)", k.detail(p))
    return
  end
  if err.retryable or ambiguous then
    local wait = retry.redeliver_in(k.retry or "webhook", (e.attempts or 0) + 1)
    if wait then
      state.outbox_fail(e.id, msg, core.time() + wait)
      D.blocked[dest] = math.max(D.blocked[dest] or 0, core.time() + wait)
      core.log("warn", k.verb .. " " .. tostring(k.target(p)) .. " not delivered (" .. msg .. "); next try in " ..
        string.format("%.0f s", wait), {key = e.key})
      return
    end
    settle(e, k, "failed: " .. msg .. " (gave up after " .. ((e.attempts or 0) + 1) .. " deliveries)", k.detail(p))
    return
  end
  settle(e, k, "failed: " .. msg, k.detail(p))
end

-- delivers one destination's entries: up to per_destination at once, in id order per run (an
-- entry waits while an earlier one of the same run is in flight), stopping at the first
-- failure that backs the destination off
local function deliver_destination(dest, entries)
  if (D.blocked[dest] or 0) > core.time() then return end
  local busy, i, running = {}, 1, 0
  local function order_key(e) local p = e.payload.p; return p.run or p.url or dest end
  task.await(function(resume)
    local finished = false
    local function pump()
      if finished then return end
      while running < M.per_destination and i <= #entries and not D.quiescing and
          not ((D.blocked[dest] or 0) > core.time()) do
        local e = entries[i]
        local ok_key = order_key(e)
        if busy[ok_key] then break end       -- keep the run's order: wait for the earlier one
        i = i + 1
        busy[ok_key] = true
        running = running + 1
        D.inflight[e.id] = true
        task.new(function() deliver_one(e, dest) end, {quiet = true, ctx = false, on_done = function(t)
          D.inflight[e.id] = nil
          if not t.ok then
            core.log("warn", "delivery of " .. tostring(e.key) .. " stopped: " .. tostring(t.err) ..
              "; it is tried again later", nil, "runwatch", "delivery")
          end
          busy[ok_key] = nil
          running = running - 1
          pump()
        end})
      end
      if running == 0 then
        finished = true
        timer.new(0, 0, function() resume() end):start()   -- never resume from inside await's start
      end
    end
    pump()
  end)
end

-- orphans: entries a dead process (or the scripts a reload replaced) had claimed. Their
-- delivery may have happened; each kind's on_ambiguous decides.
-- entries this deliverer claimed but no longer delivers (a delivery stopped by an error, e.g. a
-- full disk when it wanted to record the outcome): released for the next pass
-- An entry whose delivery was cut off after its claim (its outcome unknown): a kind that is
-- never repeated is settled as "unknown"; the others are released for another delivery.
local function interrupted(e, why)
  local k = kinds[e.action]
  if k and type(k) == "table" and k.on_ambiguous == "drop" then
    settle(e, k, "unknown: " .. why .. "; not repeated: it may have been performed", k.detail(e.payload.p))
  else
    state.outbox_fail(e.id, why, e.next_at)
  end
end

-- entries this deliverer claimed but no longer delivers (a delivery stopped by an error, e.g. a
-- full disk when it wanted to record the outcome): recorded if they were performed, else
-- handled as interrupted
local function release_stuck()
  for _, e in ipairs(state.outbox_claimed()) do
    if e.claim == token and not D.inflight[e.id] then
      local done = D.performed[e.id]
      local k = kinds[e.action]
      if done and k then
        settle(e, k, done.outcome, done.detail)
        D.performed[e.id] = nil
      else
        interrupted(e, "delivery stopped by an error")
      end
    end
  end
end

-- orphans: entries a dead process (or the scripts a reload replaced) had claimed
local function adopt_orphans()
  for _, e in ipairs(state.outbox_orphans(token)) do
    if state.outbox_adopt(e.id, e.claim, token) then
      interrupted(e, "interrupted during delivery (a crash or a reload)")
    end
  end
end

local function schedule_next()
  if core.options().mode == "once" then
    local left = #state.outbox_pending()
    if left > 0 then
      core.log("warn", left .. " effect(s) not delivered yet (their destinations failed); the next " ..
        "run with this --state delivers them", nil, "runwatch", "delivery")
    end
    return
  end
  if task.stopping then return end
  local now = core.time()
  local nxt = state.outbox_next_due()
  local blocked_min
  for _, t in pairs(D.blocked) do if t > now and (not blocked_min or t < blocked_min) then blocked_min = t end end
  if nxt and nxt <= now then nxt = blocked_min or (now + 1) end
  if blocked_min and (not nxt or blocked_min < nxt) then nxt = blocked_min end
  if not nxt then return end
  if D.timer then D.timer:close() end
  D.timer = timer.new(math.max(0.01, nxt - now), 0, function() D.timer = nil; M.kick() end):start()
end

local function pass()
  if not D.adopted then adopt_orphans(); D.adopted = true end
  release_stuck()
  while D.again and not task.stopping and not D.quiescing do
    D.again = false
    local now = core.time()
    local due = state.outbox_due(now, 1000)
    local groups, order = {}, {}
    for _, e in ipairs(due) do
      local k = kinds[e.action]
      local p = e.payload and e.payload.p
      local dest = (k and type(k) == "table" and type(p) == "table" and k.dest) and k.dest(p) or "?"
      if not ((D.blocked[dest] or 0) > now) then
        if not groups[dest] then groups[dest] = {}; order[#order + 1] = dest end
        local g = groups[dest]
        g[#g + 1] = e
      end
    end
    if #order == 0 then break end
    local fns = {}
    for _, dest in ipairs(order) do fns[#fns + 1] = function() deliver_destination(dest, groups[dest]) end end
    task.parallel(fns, {limit = M.destinations})
    if #due == 1000 then D.again = true end
  end
  schedule_next()
end

-- kick(): deliver what is due, now (outside the caller: a job of its own). Called after a
-- commit that queued effects, at start-up, and by the deliverer's own timer.
function M.kick()
  if core.options().dry_run or core.options().mode == "check" or D.quiescing then return end
  D.again = true
  if D.pass and not D.pass.done then return end
  D.pass = task.new(function()
    local ok, err = pcall(pass)
    if not ok then
      core.log("warn", "delivery pass stopped: " .. message(err) .. "; trying again later")
      if not D.timer and core.options().mode ~= "once" and not task.stopping then
        D.timer = timer.new(5, 0, function() D.timer = nil; M.kick() end):start()
      end
    end
  end, {script = "runwatch", job = "delivery", budget = 600, ctx = false})
end

-- in_flight() -> number of deliveries running now
function M.in_flight()
  local n = 0
  for _ in pairs(D.inflight) do n = n + 1 end
  return n
end

-- A reload waits for the deliveries in flight (and starts no new one meanwhile): one cut off by
-- the swap could neither be known sent nor safely sent again.
task.on_quiesce{
  quiesce = function() D.quiescing = true end,
  busy = function() return next(D.inflight) ~= nil end,
  resume = function() D.quiescing = false; M.kick() end,
}

task.on_stop(function() if D.timer then D.timer:close(); D.timer = nil end end)

-- }======

return M
