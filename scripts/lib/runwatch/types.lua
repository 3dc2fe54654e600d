-- The LuaLS annotations (---@meta) of everything a script sees, as text: `runwatch types DIR` writes
-- them for an editor; tests/lua/test_types.lua compares them with the real globals and methods.
return [====[
---@meta runwatch
-- LuaLS annotations of everything a runwatch script sees: its globals and the objects they give
-- back. Written by `runwatch types DIR`; tests/lua/test_types.lua compares them with the real
-- globals and methods, so they never drift. Names marked ---@private are the library's own
-- internals that happen to be reachable (their tables serve the library too): do not use them.

---@alias runwatch.Duration string|number  "90s", "5m", "1h30m", "250ms", "1d", or seconds

-- {====== the script's environment

---@class runwatch.Info
---@field version string     the runwatch version
---@field dry_run boolean    --dry-run: writes are printed, not sent
---@field mode "run"|"once"|"check"
---@field options table      the parsed command line
runwatch = {}

---true under --dry-run
---@type boolean
dry_run = false

---the script's file name ("(command line)" for -e)
---@type string
SCRIPT = ""

---@class runwatch.ScheduleOptions
---@field name? string
---@field cpu_budget? runwatch.Duration
---@field jitter? runwatch.Duration
---@field immediate? boolean   every: first tick at once
---@field tz? "local"|"UTC"    cron only

---Runs fn every interval (each tick is a job; a tick is skipped while the previous one runs).
---@param interval runwatch.Duration
---@param fn fun()
---@param opts? runwatch.ScheduleOptions
---@return runwatch.Schedule
function every(interval, fn, opts) end

---Runs fn once after delay.
---@param delay runwatch.Duration
---@param fn fun()
---@param opts? runwatch.ScheduleOptions
---@return runwatch.Schedule
function after(delay, fn, opts) end

---Runs fn on a 5-field cron expression (or @hourly, @daily, ...).
---@param expr string
---@param fn fun()
---@param opts? runwatch.ScheduleOptions
---@return runwatch.Schedule
function cron(expr, fn, opts) end

---Starts a sub-job.
---@param fn fun(...): ...
---@return runwatch.Task
function spawn(fn, ...) end

---Runs the functions as jobs, at most opts.limit at once; their results in order.
---@param fns (fun(): any)[]
---@param opts? {limit?: integer}
---@return any[]
function parallel(fns, opts) end

---Applies fn to each item as jobs, at most opts.limit at once; the results in order.
---@generic T, R
---@param items T[]
---@param fn fun(item: T, i: integer): R
---@param opts? {limit?: integer}
---@return R[]
function map(items, fn, opts) end

---Waits inside the job (other jobs go on).
---@param d runwatch.Duration
function sleep(d) end

---ipairs that may wait for the next page of a lazy list (api.runs).
---@generic V
---@param t V[]|runwatch.Runs
---@return fun(t: any, i: integer): integer, V
---@return any
---@return integer
function ipairs(t) end

---print through the redaction of secrets.
function print(...) end

-- }======

-- {====== schedules and jobs

---@class runwatch.Schedule
local Schedule = {}
---@return runwatch.Schedule
function Schedule:stop() end
---@return number? when  wall-clock time of the next tick (nil when stopped)
function Schedule:next_run() end

---@class runwatch.Task
local Task = {}
---Waits until the job ends: true and its results, or false and its error.
---@return boolean ok
---@return any ...
function Task:wait() end

-- }======

-- {====== http

---@class runwatch.HttpOptions
---@field method? "GET"|"POST"|"PUT"|"PATCH"|"DELETE"|"HEAD"
---@field url? string
---@field headers? table<string, string>|string[]
---@field body? string|table   a table is sent as JSON
---@field timeout? runwatch.Duration
---@field connect_timeout? runwatch.Duration
---@field max_size? integer     response body cap in bytes (default 256 MiB)
---@field output? string        write the body to this file
---@field follow? boolean       follow redirects (at most 5)
---@field insecure? boolean     skip TLS verification (only with the --insecure flag)

---@class runwatch.Response
---@field status integer
---@field headers table<string, string>   lower-case names
---@field body string
---@field url? string
---@field time? number
---@field size? integer

---@class runwatch.http
http = {}
---@param opts runwatch.HttpOptions
---@return runwatch.Response? res
---@return string? err
---@return integer? code  libcurl's error code
function http.request(opts) end
---@param url string
---@param opts? runwatch.HttpOptions
---@return runwatch.Response? res
---@return string? err
---@return integer? code
function http.get(url, opts) end
---@param url string
---@param body string|table
---@param opts? runwatch.HttpOptions
---@return runwatch.Response? res
---@return string? err
---@return integer? code
function http.post(url, body, opts) end
---The decoded body of a 2xx JSON answer, or nil, err.
---@param res runwatch.Response?
---@param err? string
---@return any
---@return string? err
function http.json(res, err) end

-- }======

-- {====== json

---@class runwatch.json
---@field null userdata     JSON null
---@field array_mt table    metatable marking a table as an array
---@field object_mt table   metatable marking a table as an object
json = {}
---@param v any
---@param opts? {indent?: integer, sort_keys?: boolean, ascii?: boolean, python?: boolean, max_depth?: integer}
---@return string
function json.encode(v, opts) end
---@param s string
---@param opts? {max_depth?: integer, json_strings?: string}
---@return any
---@return string? err
function json.decode(s, opts) end
---@param t? table
---@return table
function json.array(t) end
---@param t? table
---@return table
function json.object(t) end
---@param t any
---@return boolean
function json.is_array(t) end

-- }======

-- {====== log

---@class runwatch.log
log = {}
---@param msg string
---@param fields? table
function log.debug(msg, fields) end
---@param msg string
---@param fields? table
function log.info(msg, fields) end
---@param msg string
---@param fields? table
function log.warn(msg, fields) end
---@param msg string
---@param fields? table
function log.error(msg, fields) end
---@param level "debug"|"info"|"warn"|"error"
---@return boolean
function log.enabled(level) end

-- }======

-- {====== the W&B API

---@class runwatch.ApiOptions
---@field base_url? string
---@field api_key? string
---@field entity? string
---@field project? string
---@field timeout? runwatch.Duration
---@field deadline? runwatch.Duration
---@field retry_base? runwatch.Duration
---@field retry_cap? runwatch.Duration
---@field rate? number
---@field burst? integer
---@field concurrency? integer
---@field max_size? integer
---@field local_dir? string

---@class runwatch.RunsOptions
---@field order? string      "-created_at" (default), "+summary.loss", ...
---@field per_page? integer
---@field keep? boolean      false: one pass in constant memory

---@class runwatch.Api
---@field default_entity string   the viewer's entity, asked once
local Api = {}
---@param path string   "entity/project/id", "project/id", or a run's URL
---@param opts? {timeout?: runwatch.Duration}
---@return runwatch.Run
function Api.run(path, opts) end
---@param path? string   "entity/project" (default: WANDB_ENTITY/WANDB_PROJECT)
---@param filters? table MongoDB-style filter
---@param opts? runwatch.RunsOptions
---@return runwatch.Runs
function Api.runs(path, filters, opts) end
---@param entity? string
---@param opts? table
---@return runwatch.Project[]
function Api.projects(entity, opts) end
---@param path string
---@return runwatch.Sweep
function Api.sweep(path) end
---Drops cached runs and lists.
function Api.flush() end
---@param name string   "entity/project/collection:alias" (or ":vN", a digest; no alias = latest)
---@param opts? {type?: string}
---@return runwatch.Artifact
function Api.artifact(name, opts) end
---@param project string   "entity/project"
---@param type_name string
---@param collection string
---@param opts? {per_page?: integer, order?: string}
---@return runwatch.Artifact[]
function Api.artifacts(project, type_name, collection, opts) end
---@param project string
---@param type_name string
---@param opts? {per_page?: integer, order?: string}
---@return runwatch.ArtifactCollection[]
function Api.artifact_collections(project, type_name, opts) end
---@param project string
---@param opts? {per_page?: integer}
---@return {id: string, name: string, description?: string, created_at: string, collections: fun(self, opts?: table): runwatch.ArtifactCollection[]}[]
function Api.artifact_types(project, opts) end
---@param name string
---@param opts? {type?: string}
---@return boolean   false when it does not resolve (a timeout raises)
function Api.artifact_exists(name, opts) end
---@param project string
---@param type_name string
---@param name string
---@return runwatch.ArtifactCollection
function Api.artifact_collection(project, type_name, name) end
---@param project string
---@param type_name string
---@return {id: string, name: string, description?: string, created_at: string, collections: fun(self, opts?: table): runwatch.ArtifactCollection[]}
function Api.artifact_type(project, type_name) end

---The default api (from the environment, the netrc and --local), and constructors.
---@class runwatch.api: runwatch.Api
api = {}
---@param opts? runwatch.ApiOptions
---@return runwatch.Api
function api.Api(opts) end
---@param spec string   "local:DIR" or an http(s) URL
---@param opts? runwatch.ApiOptions
---@return runwatch.Api
function api.open(spec, opts) end
---@return runwatch.Api
function api.default() end

---the same as api (the Python SDK's name)
---@type runwatch.api
wandb = api

---@class runwatch.Project
---@field name string
---@field entity string
---@field runs fun(filters?: table, opts?: runwatch.RunsOptions): runwatch.Runs

---@class runwatch.Runs: { [integer]: runwatch.Run }
local Runs = {}
---@return fun(): runwatch.Run?
function Runs:iter() end
---@return runwatch.Runs
function Runs:load_all() end
---@return integer? n  runs loaded so far when the listing is complete, else nil
function Runs:loaded() end
---@return integer? n  the count the server gave, if asked already
function Runs:known_count() end
---@return fun(): runwatch.Run?
function Runs:stream() end

---@class runwatch.User
---@field username? string
---@field name? string
---@field email? string

---@class runwatch.HistoryRow: { [string]: any }
---@field _step integer
---@field _timestamp? number
---@field _runtime? number

---@class runwatch.HistoryOptions
---@field keys? string[]
---@field samples? integer
---@field page_size? integer
---@field min_step? integer
---@field max_step? integer
---@field stream? "default"|"system"

---@class runwatch.Run
---@field id string
---@field name string
---@field display_name string
---@field path string          "entity/project/id"
---@field url string
---@field entity string
---@field project string
---@field project_id? string
---@field storage_id string
---@field state "running"|"finished"|"crashed"|"failed"|"killed"|"preempted"|string
---@field config table
---@field summary table
---@field summary_metrics table
---@field system_metrics table
---@field tags string[]
---@field notes? string
---@field description? string
---@field group? string
---@field job_type? string
---@field created_at string
---@field heartbeat_at? string
---@field updated_at? string
---@field runtime? number
---@field last_step? integer
---@field history_line_count? integer
---@field sweep_name? string
---@field commit? string
---@field user? runwatch.User
---@field metadata? table       wandb-metadata.json, fetched on first use
---@field rawconfig? table
---@field exit_code? integer   local runs
---@field liveness? string     local runs: "alive", "dead", ...
---@field writer_pid? integer  local runs
---@field error_count? integer local runs
---@field offline? boolean     local runs
---@field local_dir? string    local runs
---@field local_files? string[] local runs
---@field read_only? boolean
local Run = {}
---@param force? boolean  re-fetch
---@return runwatch.Run
function Run:load(force) end
---Sends what the script changed (config, summary, tags, notes, name, group, job type).
function Run:update() end
---The same as update()
function Run:save() end
---@param ... string
function Run:add_tags(...) end
---@param ... string
function Run:remove_tags(...) end
---@param kv table
function Run:set_summary(kv) end
---@param kv table
function Run:set_config(kv) end
---@param text string
function Run:append_notes(text) end
---@param a {title: string, text: string, level?: "INFO"|"WARN"|"ERROR", wait?: runwatch.Duration}
function Run:alert(a) end
---@param opts? {artifacts?: boolean}
function Run:delete(opts) end
---@param opts? runwatch.HistoryOptions
---@return runwatch.HistoryRow[]
function Run:history(opts) end
---@param opts? runwatch.HistoryOptions
---@return fun(): runwatch.HistoryRow?
function Run:scan_history(opts) end
---@param opts? {pattern?: string, names?: string[], per_page?: integer}
---@return runwatch.File[]
function Run:files(opts) end
---@param name string
---@return runwatch.File
function Run:file(name) end
---@param opts? {per_page?: integer}
---@return runwatch.Artifact[]
function Run:logged_artifacts(opts) end
---@param opts? {per_page?: integer}
---@return runwatch.Artifact[]
function Run:used_artifacts(opts) end
---@private
function Run:fetch_metadata() end

---@class runwatch.Artifact   one version (docs/artifacts.md)
---@field id string
---@field name string            as asked ("mnist:best"), or "mnist:vN"
---@field qualified_name string
---@field entity string
---@field project string
---@field collection string
---@field version string         "vN"
---@field aliases string[]       without vN; change and save(), or add_aliases/remove_aliases
---@field type string
---@field description? string
---@field metadata table
---@field state string
---@field size? integer
---@field digest? string
---@field commit_hash? string
---@field file_count? integer
---@field created_at string
---@field updated_at string
---@field tags string[]
---@field history_step? integer
---@field ttl? integer
---@field source_entity string
---@field source_project string
---@field source_collection string
---@field source_version string
---@field source_name string
---@field is_link boolean
local Artifact = {}
---@param opts? {names?: string[], per_page?: integer}
---@return runwatch.ArtifactFile[]
function Artifact:files(opts) end
---@param path string
---@return runwatch.ArtifactFile
function Artifact:file(path) end
---@param dir? string   default ./artifacts/<source_name>
---@param opts? {path_prefix?: string, concurrency?: integer}
---@return string dir, {downloaded: integer, skipped: integer, bytes: integer, references: integer} stats
function Artifact:download(dir, opts) end
---@return {path: string, digest: string, size?: integer, ref?: string}[]
function Artifact:manifest() end
---@return runwatch.Run?
function Artifact:logged_by() end
---@return runwatch.Run[]
function Artifact:used_by() end
---@param ... string
---@return true
function Artifact:add_aliases(...) end
---@param ... string
---@return true
function Artifact:remove_aliases(...) end
---@return boolean
function Artifact:save() end
---@param opts? {delete_aliases?: boolean}
---@return true
function Artifact:delete(opts) end

---@class runwatch.ArtifactFile
---@field name string   the path inside the artifact
---@field size? integer
---@field digest? string
---@field md5? string
---@field url? string
---@field direct_url? string
---@field mimetype? string
---@field updated_at? string
local ArtifactFile = {}
---@return string   the bytes, checked against the digest
function ArtifactFile:read() end

---@class runwatch.ArtifactCollection
---@field id string
---@field name string
---@field type string
---@field description? string
---@field created_at string
---@field updated_at? string
---@field tags string[]
---@field entity string
---@field project string
---@field is_sequence boolean
local ArtifactCollection = {}
---@param opts? {per_page?: integer, order?: string}
---@return runwatch.Artifact[]
function ArtifactCollection:versions(opts) end

---@class runwatch.File
---@field name string
---@field size? integer
---@field md5? string
---@field updated_at? string
---@field mimetype? string
---@field url? string
---@field direct_url? string
---@field id string
---@field run string
local File = {}
---@param o? {max_size?: integer}
---@return string
function File:read(o) end
---@param dir string
---@param opts? {replace?: boolean}
---@return string path
function File:download(dir, opts) end

---@class runwatch.Sweep
---@field id string
---@field name string
---@field display_name? string
---@field entity string
---@field project string
---@field state? string
---@field method? string
---@field best_loss? number
---@field config? string
---@field metric? {name?: string, goal?: string}
---@field created_at? string
---@field updated_at? string
---@field run_count? integer
---@field run_count_expected? integer
---@field description? string
---@field storage_id? string
---@field runs runwatch.Runs
local Sweep = {}
---@param metric? string
---@param order? "+"|"-"
---@return runwatch.Run?
function Sweep:best_run(metric, order) end

---What a failed call to W&B raises (like wandb.CommError).
---@class runwatch.CommError
---@field message string
---@field status? integer
---@field errors? table
---@field exc any
---@field op? string
---@field retryable? boolean
---@field attempts? integer

-- }======

-- {====== watches and rules

---@class runwatch.StaleInfo
---@field kind "silent"|"dead"
---@field silence number
---@field last_step? integer

---@class runwatch.WatchSpec
---@field project string
---@field filters? table
---@field every? runwatch.Duration
---@field id? string
---@field name? string
---@field api? runwatch.Api
---@field batch? integer
---@field per_page? integer
---@field max_rows? integer
---@field history? boolean|string[]
---@field cpu_budget? runwatch.Duration
---@field stale? false|{factor?: number, floor?: runwatch.Duration, heartbeat?: runwatch.Duration}
---@field on_new_run? fun(run: runwatch.Run)
---@field on_history? fun(run: runwatch.Run, rows: runwatch.HistoryRow[])
---@field on_summary? fun(run: runwatch.Run, changed_keys: string[])
---@field on_tags? fun(run: runwatch.Run, added: string[], removed: string[])
---@field on_state? fun(run: runwatch.Run, old: string, new: string)
---@field on_finish? fun(run: runwatch.Run)
---@field on_crash? fun(run: runwatch.Run)
---@field on_fail? fun(run: runwatch.Run)
---@field on_killed? fun(run: runwatch.Run)
---@field on_stale? fun(run: runwatch.Run, info: runwatch.StaleInfo)
---@field on_recover? fun(run: runwatch.Run, info: table)
---@field artifacts? {type: string, name?: string|string[]}   an artifact watch (docs/artifacts.md)
---@field on_artifact_version? fun(artifact: runwatch.Artifact)
---@field on_alias? fun(artifact: runwatch.Artifact, added: string[], removed: string[])

---@class runwatch.Watch
local Watch = {}
function Watch:stop() end
---@private
function Watch:call(...) end
---@private
function Watch:cursor(...) end
---@private
function Watch:forget(...) end
---@private
function Watch:head(...) end
---@private
function Watch:remember(...) end
---@private
function Watch:process(...) end
---@private
function Watch:save(...) end

---Watches a project's running runs and calls the handlers for what is new.
---@param spec runwatch.WatchSpec
---@return runwatch.Watch
function watch(spec) end

---@class runwatch.Alert
---@field rule string
---@field transition "firing"|"repeat"|"resolved"
---@field state string
---@field value any
---@field severity "info"|"warning"|"critical"
---@field since number
---@field episode integer
---@field n integer
---@field key string
---@field description? string

---@alias runwatch.NotifyAction table|fun(alert: runwatch.Alert, run: runwatch.Run)

---@class runwatch.RuleSpec
---@field name string
---@field watch runwatch.Watch|runwatch.Watch[]
---@field when fun(run: runwatch.Run, ctx: table): boolean, any|runwatch.Condition
---@field for? runwatch.Duration
---@field repeat? runwatch.Duration
---@field severity? "info"|"warning"|"critical"
---@field notify? runwatch.NotifyAction[]
---@field resolve? boolean
---@field description? string
---@field cooldown? runwatch.Duration
---@field max_per_hour? integer
---@field group? boolean|string

---@class runwatch.Rule
local Rule = {}
---@private
function Rule:evaluate(...) end
---@private
function Rule:evaluate_points(...) end
---@private
function Rule:held(...) end
---@private
function Rule:prepare(...) end
---@private
function Rule:send(...) end
---@private
function Rule:step(...) end
---@private
function Rule:tick_done(...) end

---An alert lifecycle (pending, firing, resolved) over a watch.
---@param spec runwatch.RuleSpec
---@return runwatch.Rule
function rule(spec) end

---A declarative condition (docs/conditions.md).
---@class runwatch.Condition
local Condition = {}
---@param n integer
---@return runwatch.Condition
function Condition:avg(n) end
---@param n integer
---@return runwatch.Condition
function Condition:mean(n) end
---@param n integer
---@return runwatch.Condition
function Condition:min(n) end
---@param n integer
---@return runwatch.Condition
function Condition:max(n) end
---@return runwatch.Condition
function Condition:last() end
---@return runwatch.Condition
function Condition:abs() end
---@param o {by: number, relative?: boolean, direction?: "increase"|"decrease"|"any", prior?: integer}
---@return runwatch.Condition
function Condition:change(o) end
---@param o {diff?: number, frac?: number}
---@return runwatch.Condition
function Condition:changes_by(o) end
---@param o {diff?: number, frac?: number}
---@return runwatch.Condition
function Condition:increases_by(o) end
---@param o {diff?: number, frac?: number}
---@return runwatch.Condition
function Condition:decreases_by(o) end
---@param o integer|{window: integer}
---@return runwatch.Condition
function Condition:zscore(o) end
---@param o {by: string|fun(run: runwatch.Run): any, at?: string, stat?: string, min_peers?: integer}
---@return runwatch.Condition
function Condition:vs_cohort(o) end
---@param o {path: string, at?: string, stat?: string}
---@return runwatch.Condition
function Condition:vs_run(o) end
---@param x number
---@return runwatch.Condition
function Condition:gt(x) end
---@param x number
---@return runwatch.Condition
function Condition:gte(x) end
---@param x number
---@return runwatch.Condition
function Condition:ge(x) end
---@param x number
---@return runwatch.Condition
function Condition:lt(x) end
---@param x number
---@return runwatch.Condition
function Condition:lte(x) end
---@param x number
---@return runwatch.Condition
function Condition:le(x) end
---@return runwatch.Condition
function Condition:is_nan() end
---@return string
function Condition:describe() end
---@private
function Condition:needs(...) end
---@private
function Condition:value(...) end

---@param key string   a logged metric ("train/loss", "eval.acc")
---@return runwatch.Condition
function metric(key) end
---@param list (runwatch.Condition|fun(run: runwatch.Run): boolean)[]
---@return runwatch.Condition
function all_of(list) end
---@param list (runwatch.Condition|fun(run: runwatch.Run): boolean)[]
---@return runwatch.Condition
function any_of(list) end
---@param list (runwatch.Condition|fun(run: runwatch.Run): boolean)[]
---@return runwatch.Condition
function none_of(list) end

-- }======

-- {====== actions (from handlers: through the effect path, exactly once)

---@class runwatch.actions
actions = {}
---@param run runwatch.Run
---@param ... string
function actions.tag(run, ...) end
---@param run runwatch.Run
---@param ... string
function actions.untag(run, ...) end
---@param run runwatch.Run
---@param kv table   summary keys
function actions.annotate(run, kv) end
---@param run runwatch.Run
---@param text string
function actions.note(run, text) end
---@param run runwatch.Run
---@param a {title: string, text: string, level?: string}
function actions.wandb_alert(run, a) end
---@param url string
---@param text string|table
---@param opts? table
function actions.slack(url, text, opts) end
---@param url string
---@param body table
---@param opts? table
function actions.webhook(url, body, opts) end
---@param template string|table
---@param ctx table
---@param escape? fun(s: string): string  applied to substituted values (Slack text)
---@return string|table
function actions.render(template, ctx, escape) end
---@param v any
---@return any   a strict-JSON copy (NaN as "NaN")
function actions.strict(v) end

-- }======

-- {====== state: a script's durable key-value store and rule conditions

---@class runwatch.state
---@overload fun(...: string): runwatch.Condition   state("crashed", "failed"): a rule condition
---@field SCHEMA_VERSION integer
---@field path string?
state = {}
---@param key string
---@param default? any  returned when the key is not set
---@return any
function state.get(key, default) end
---@param key string
---@param value any
function state.set(key, value) end
---@param key string
function state.delete(key) end
---@param prefix? string
---@return string[]
function state.keys(prefix) end
---@param fn fun(...): any
---@param ... any passed to fn
---@return any
function state.transaction(fn, ...) end
---@private
function state.alert(...) end
---@private
function state.alerts(...) end
---@private
function state.audit(...) end
---@private
function state.audit_list(...) end
---@private
function state.close(...) end
---@private
function state.cursor(...) end
---@private
function state.cursors(...) end
---@private
function state.delete_cursor(...) end
---@private
function state.dry_run(...) end
---@private
function state.contended(...) end
---@private
function state.holder(...) end
---@private
function state.in_transaction(...) end
---@private
function state.is_open(...) end
---@private
function state.iso(...) end
---@private
function state.meta_get(...) end
---@private
function state.meta_list(...) end
---@private
function state.meta_set(...) end
---@private
function state.open(...) end
---@private
function state.outbox_add(...) end
---@private
function state.outbox_adopt(...) end
---@private
function state.outbox_claim(...) end
---@private
function state.outbox_claimed(...) end
---@private
function state.outbox_done(...) end
---@private
function state.outbox_due(...) end
---@private
function state.outbox_fail(...) end
---@private
function state.outbox_next_due(...) end
---@private
function state.outbox_orphans(...) end
---@private
function state.outbox_pending(...) end
---@private
function state.outbox_progress(...) end
---@private
function state.parse_time(...) end
---@private
function state.prune(...) end
---@private
function state.record_daemon(...) end
---@private
function state.seen(...) end
---@private
function state.set_alert(...) end
---@private
function state.set_cursor(...) end

-- }======

-- {====== export and reports

---@class runwatch.ExportOptions
---@field format? "csv"|"jsonl"|"json"
---@field columns? string[]
---@field history? string[]
---@field progress? boolean
---@field page_size? integer

---@class runwatch.export
---@field FORMATS table
---@field RUN_DEFAULT string[]   the default columns
export = {}
---@param src runwatch.Runs|runwatch.Run[]|table[]
---@param target string|file*   a path, or an open file
---@param o? runwatch.ExportOptions
---@return integer? rows
---@return string? err
function export.write(src, target, o) end
---@param src runwatch.Runs|runwatch.Run[]|table[]
---@param path string
---@param columns? string[]
---@param o? runwatch.ExportOptions
---@return integer? rows
---@return string? err
function export.csv(src, path, columns, o) end
---@param src runwatch.Runs|runwatch.Run[]|table[]
---@param path string
---@param columns? string[]
---@param o? runwatch.ExportOptions
---@return integer? rows
---@return string? err
function export.jsonl(src, path, columns, o) end
---What `runwatch export` runs: a project's runs (or their history) to o.output ("-": stdout).
---@param path string  "entity/project"
---@param o? runwatch.ExportOptions|{filters?: table, order?: string, per_page?: integer, output?: string, api?: runwatch.Api}
---@return integer? rows
---@return string? err
function export.project(path, o) end
---@param run runwatch.Run|table
---@param column string
---@return any
function export.value(run, column) end
---@param v any
---@return string
function export.text(v) end
---@private
function export.check_columns(...) end
---@private
function export.column_order(...) end
---@private
function export.columns(...) end
---@private
function export.columns_of(...) end
---@private
function export.each_run(...) end
---@private
function export.field(...) end
---@private
function export.is_run(...) end
---@private
function export.json(...) end
---@private
function export.stream(...) end

---@class runwatch.ReportSection
---@field type? "text"|"table"|"chart"
---@field title? string
---@field text? string
---@field rows? table[]
---@field columns? string[]
---@field runs? runwatch.Run[]
---@field series? table[]
---@field x? string
---@field y? string|string[]

---@class runwatch.report
---@field PALETTE string[]
report = {}
---Writes one self-contained HTML file.
---@param spec {title?: string, path: string, sections: runwatch.ReportSection[]}
---@return string? path
---@return string? err
function report.html(spec) end
---@param spec {title?: string, sections: runwatch.ReportSection[]}
---@return string html
function report.render(spec) end
---@param v any
---@return string
function report.escape(v) end

-- }======
]====]
