-- The command line, declared once: every command and option with its help, exit statuses and
-- examples. The parser (cli/parse.lua), --help, the man page (cli/help.lua) and bash completion
-- (cli/bash.lua) are all made from this table; C reads the parsed global options from it too.
-- Pure data: no require, so the C side can load it in a bare Lua state before the app starts.
--
-- An option: name ("--state"), short ("-o"), key (default: the name without dashes, "-" -> "_"),
-- value (the metavariable; nil for a flag), type ("string" default, "number", "integer",
-- "choice"), min/max, choices, optional (the value may be left out), multi (repeatable: a
-- list), set (the value a flag stores; default true), complete ("file", "dir", "script"), help.
-- An option name has the same meaning (value or flag) in every command that has it, so options
-- can come before or after the command name.
local M = {}

M.LOG_LEVELS = {"debug", "info", "warn", "error", "off"}

-- Options every command accepts, before or after its name (C uses these before Lua starts).
M.global = {
  {name = "-e", key = "code", value = "CODE", multi = true,
   help = "run CODE as a script (may be repeated; with no command, implies once)"},
  {name = "--dry-run", help = "read, but print every planned write instead of sending it"},
  {name = "--log-level", value = "LEVEL", type = "choice", choices = M.LOG_LEVELS,
   help = "debug, info, warn, error or off (default info)"},
  {name = "--log-format", value = "FORMAT", type = "choice", choices = {"text", "json"},
   help = "text (default) or json (one JSON object per line)"},
  {name = "--state", value = "PATH", complete = "file",
   help = "the SQLite state file (default $XDG_STATE_HOME/runwatch/state.db)"},
  {name = "--local", key = "local_dir", value = "DIR", optional = true, complete = "dir",
   help = "read local W&B run directories under DIR instead of the W&B API (without DIR: " ..
          "WANDB_DIR, else ./wandb)"},
  {name = "--lib-dir", value = "DIR", complete = "dir",
   help = "load the Lua library from DIR instead of the copy built into the binary"},
  {name = "--cpu-budget", value = "SECS", type = "number", min = 0,
   help = "seconds of Lua a job may run per tick (default 5)"},
  {name = "--mem-limit", value = "MB", type = "number", min = 1,
   help = "memory cap for all Lua data, in megabytes (default 512)"},
  {name = "--stop-grace", value = "SECS", type = "number", min = 0,
   help = "time in-flight work gets after SIGTERM (default 10)"},
  {name = "--insecure", help = "do not verify TLS certificates (prints a warning)"},
  {name = "--version", help = "print the version and exit"},
  {name = "--help", short = "-h", help = "show the help (of the command, when one is named) and exit"},
}

local SCRIPTS = {name = "SCRIPT", many = true, min = 1, complete = "script",
  missing = "no script given (a .lua file, a directory of them, or -e CODE)"}

local SCRIPT_EXIT = {
  {0, "everything ran (run: stopped by SIGINT/SIGTERM after in-flight work finished)"},
  {1, "a job failed (an error in a tick, a handler, or a script after its first wait), or a " ..
      "job was left waiting for something that could never come"},
  {2, "usage error, or a script failed to load (syntax error, or an error at its top level " ..
      "before its first wait)"},
  {130, "a second SIGINT/SIGTERM ended a graceful stop early"},
}

-- Commands, in the order --help lists them. mode: run by the C host with scripts (run, once,
-- check); module: a Lua command (main(options, args) -> exit status); print: answered by the
-- parser itself (help).
M.commands = {
  {name = "run", mode = "run", args = {SCRIPTS},
   summary = "run scripts as a daemon: timers, crons and watches keep it alive",
   description = "Loads every SCRIPT (a directory stands for the *.lua files in it, in name " ..
     "order), each with its own global environment, and runs their jobs until SIGINT or " ..
     "SIGTERM. SIGHUP reloads the scripts from disk; when the new version fails to load, the " ..
     "old one keeps running and the reason is logged. Under systemd (Type=notify) it reports " ..
     "READY=1 once the scripts are loaded, RELOADING=1 and READY=1 around a reload, and " ..
     "STOPPING=1.",
   exit = SCRIPT_EXIT,
   examples = {
     {"runwatch run rules.lua", "watch and alert until stopped"},
     {"runwatch run --dry-run --log-level debug /etc/runwatch/team/", "every script of a directory, writing nothing"},
   }},
  {name = "once", mode = "once", args = {SCRIPTS},
   summary = "every job fires exactly once, then exit when all work drains",
   description = "Like run, but every timer, cron and watch fires once and the process exits " ..
     "when nothing is left to do: for cron jobs and CI. With no command, -e CODE implies once.",
   exit = SCRIPT_EXIT,
   examples = {
     {"runwatch once nightly_report.lua", "one pass, then exit"},
     {"runwatch -e 'for r in api.runs(\"team/proj\") do print(r.name) end'", "a one-line script"},
   }},
  {name = "check", mode = "check", args = {SCRIPTS},
   summary = "compile and lint the scripts; no network, nothing runs",
   description = "Compiles each SCRIPT without running it, validates the literal durations " ..
     "and cron expressions it finds, and warns about globals that are read but never defined.",
   exit = {{0, "every script compiles and lints cleanly (warnings allowed)"},
           {2, "usage error, or a script has a syntax error or a bad literal duration or cron expression"}},
   examples = {{"runwatch check rules.lua", "prints 'ok  rules.lua' or file:line: problem"}}},
  {name = "status", module = "runwatch.commands.status",
   summary = "show the daemon, its watches, rules, alerts and request budget (from --state)",
   description = "Shows what the daemon using this state store records: the daemon itself " ..
     "(running, stopped or killed), each watch (project, interval, age of the last tick, " ..
     "running runs, requests per tick), each rule with its pending and firing alerts, the " ..
     "outbox, and the request budget per host. Read-only; works while the daemon runs.",
   options = {{name = "--json", help = "print one JSON document instead"}},
   exit = {{0, "shown"}, {1, "the state store cannot be read"}, {2, "usage error"}},
   examples = {{"runwatch status --state /var/lib/runwatch/team/state.db", "what a service records"},
               {"runwatch status --json | jq .watches", "the watches as JSON"}}},
  {name = "log", module = "runwatch.commands.log",
   summary = "print the audit log of the actions scripts took (from --state)",
   description = "Prints the audit log of the actions scripts took (tags, notes, alerts, " ..
     "webhooks, ...), oldest first, one line each: time, script, rule, run, action, outcome, " ..
     "detail. Read-only; works while the daemon runs.",
   options = {
     {name = "--since", value = "WHEN",
      help = "only entries from this long ago (\"90m\", \"1h\", \"7d\") or since this time (\"2024-06-01\", \"2024-06-01T09:00:00Z\")"},
     {name = "--rule", value = "NAME", help = "only entries of this rule"},
     {name = "--run", value = "PATH", help = "only entries about this run (entity/project/run_id)"},
     {name = "--action", value = "NAME", help = "only this action (tag, update, notify, ...)"},
     {name = "--limit", value = "N", type = "integer", min = 0, help = "the newest N entries (default 100; 0 for all)"},
     {name = "--json", help = "print one JSON array instead"},
   },
   exit = {{0, "printed"}, {1, "the state store cannot be read"}, {2, "usage error"}},
   examples = {{"runwatch log --since 1d --rule nan-loss", "what one rule did today"}}},
  {name = "inspect", module = "runwatch.commands.inspect",
   args = {{name = "PATH", many = true, min = 1, complete = "file"}},
   summary = "show what a .wandb file or run directory holds",
   description = "Shows what W&B run files hold: record counts by type, history rows, first " ..
     "and last step, metric keys, the exit code and runtime, errors with their byte offsets, " ..
     "whether the log is complete, and the run's state as runwatch's local backend sees it. " ..
     "PATH is a .wandb file, a run directory (wandb/run-*), a wandb/ directory, or a directory " ..
     "of run directories.",
   options = {{name = "--json", help = "one JSON array with an object per .wandb file (a file or PATH that cannot be read: an object with \"path\" and \"error\")"},
     {name = "--progress", help = "always show the progress bar on stderr (default: when stderr is a terminal and stdout is not; RW_PROGRESS=1 or 0 forces it on or off)"},
     {name = "--no-progress", key = "progress", set = false, help = "never show the progress bar"}},
   exit = {{0, "every file read cleanly"}, {1, "a file has errors or cannot be read, or nothing was found"},
           {2, "usage error"}},
   examples = {{"runwatch inspect wandb/latest-run", "one run"},
               {"runwatch inspect --json wandb/ > runs.json", "every run under wandb/"}}},
  {name = "export", module = "runwatch.commands.export",
   args = {{name = "ENTITY/PROJECT", max = 1}},
   summary = "export a project's runs (or their history) as CSV, JSON Lines or JSON",
   description = "Writes the project's runs (one row per run), or with --history their " ..
     "metrics (one row per run and step), streamed in constant memory. Without ENTITY/PROJECT: " ..
     "WANDB_ENTITY and WANDB_PROJECT (or the settings files, or --local's directory), as " ..
     "api.runs() without a path.",
   options = {
     {name = "--filters", value = "JSON", help = "MongoDB-style filter, as api.runs takes it, e.g. '{\"state\": \"finished\"}'"},
     {name = "--order", value = "KEY", help = "sort key, e.g. -created_at (default), +summary.loss, config.lr"},
     {name = "--columns", value = "LIST",
      help = "comma-separated columns: id,name,state,created_at,config.lr,summary.loss (nested keys " ..
        "dotted). Default: id, name, state, tags, notes, user.username, group, created_at, runtime, " ..
        "sweep_name, then every config.K and summary.K key any exported run has (but summary._wandb)"},
     {name = "--format", value = "FORMAT", type = "choice", choices = {"csv", "jsonl", "json"},
      help = "csv (default), jsonl or json; guessed from the -o file's extension"},
     {name = "--history", value = "KEYS",
      help = "comma-separated metric keys: one row per run and step (columns: the --columns, default id, then _step and the keys)"},
     {name = "--output", short = "-o", value = "FILE", complete = "file", help = "write to FILE (default: stdout, or \"-\")"},
     {name = "--per-page", value = "N", type = "integer", min = 1, max = 1000, help = "runs per request, 1 to 1000 (default 1000)"},
     {name = "--progress", help = "always show the progress bar on stderr (default: when stderr is a terminal; RW_PROGRESS=1 or 0 forces it on or off)"},
     {name = "--no-progress", key = "progress", set = false, help = "never show the progress bar"},
   },
   exit = {{0, "exported"}, {1, "the export failed (W&B or the output file)"}, {2, "usage error"}},
   examples = {{"runwatch export my-team/my-project -o runs.csv", "the runs table as CSV"},
               {"runwatch export --local wandb --history loss,acc -o hist.jsonl", "local runs' metrics, one row per step"}}},
  {name = "backtest", module = "runwatch.commands.backtest",
   args = {{name = "SCRIPT", min = 1, max = 1, complete = "script",
            missing = "no script given (the rules to replay)"}},
   summary = "replay a project's history through a script's rules, performing nothing",
   description = "Replays the exact history of the project's runs (finished ones too) through " ..
     "every rule of SCRIPT, in step order, with the same rule engine a watch uses, and prints per " ..
     "rule: runs evaluated, runs fired, each fired run's first firing (step, time, value), the " ..
     "time from the first offending value to the firing, and the runs that fired but finished " ..
     "(likely false positives). Nothing is performed: no notification, no write to W&B, and the " ..
     "state file is not touched (a throwaway one is used). Rules are applied to the runs of " ..
     "--project whatever their watches say.",
   options = {
     {name = "--project", value = "ENTITY/PROJECT", required = true,
      help = "the runs to replay (required; local runs: local/PROJECT with --local)"},
     {name = "--since", value = "DURATION", help = "only runs created within it, e.g. 30d, 12h (default: all)"},
     {name = "--filters", value = "JSON", help = "MongoDB-style filter, as api.runs takes it, e.g. '{\"state\": \"finished\"}'"},
     {name = "--json", help = "print one JSON document instead"},
     {name = "--html", value = "FILE", complete = "file", help = "also write an HTML report: per fired run, the metric curve and the firings"},
     {name = "--per-page", value = "N", type = "integer", min = 1, max = 1000, help = "runs per request, 1 to 1000 (default 1000)"},
     {name = "--progress", help = "always show the progress bar on stderr (default: when stderr is a terminal; RW_PROGRESS=1 or 0 forces it on or off)"},
     {name = "--no-progress", key = "progress", set = false, help = "never show the progress bar"},
   },
   exit = {{0, "the report was made"},
           {1, "no runs matched, a bad filter, a missing project, or a request failed"},
           {2, "usage error, or the script failed to load"}},
   examples = {{"runwatch backtest rules.lua --project my-team/my-project --since 30d", "what the rules would have fired in the last 30 days"},
               {"runwatch backtest rules.lua --local wandb --project local/demo --html bt.html", "local runs, with an HTML report"}}},
  {name = "types", module = "runwatch.commands.types",
   args = {{name = "DIR", max = 1, complete = "dir"}},
   summary = "write editor annotations (lua-language-server) for scripts",
   description = "Writes DIR/runwatch.lua, the LuaLS annotations of every global a script sees " ..
     "and of every object it gets back (api, Run, watch, rule, conditions, http, json, state, " ..
     "export, report, ...), and a .luarc.json in the current directory (the scripts' " ..
     "workspace) that points lua-language-server at DIR, so an editor completes and checks " ..
     "scripts. DIR defaults to .runwatch/types. An existing .luarc.json keeps its other " ..
     "settings: DIR is added to its workspace.library. Needs no network and no state.",
   options = {{name = "--luarc", value = "FILE", complete = "file",
               help = "write the settings to FILE instead of ./.luarc.json"}},
   exit = {{0, "written"}, {1, "a file could not be written, or the existing .luarc.json is not a JSON object"},
           {2, "usage error"}},
   examples = {{"runwatch types", "annotations in .runwatch/types, ./.luarc.json pointing at them"},
               {"runwatch types ~/.local/share/runwatch/types --luarc scripts/.luarc.json", "another place"}}},
  {name = "help", print = "help",
   args = {{name = "COMMAND", max = 1, complete = "command"}},
   summary = "show the help of runwatch or of one command",
   description = "The same as runwatch --help, or runwatch COMMAND --help when a COMMAND is " ..
     "named. --man prints this manual as a roff page (what man runwatch shows), --completion " ..
     "bash the bash completion script.",
   options = {
     {name = "--man", help = "print the manual page runwatch(1) in roff"},
     {name = "--completion", value = "SHELL", type = "choice", choices = {"bash"}, help = "print the completion script for SHELL (bash)"},
   },
   exit = {{0, "printed"}, {2, "usage error"}},
   examples = {{"runwatch help export", "the same as runwatch export --help"},
               {"runwatch help --man | man -l -", "the manual page without installing it"}}},
}

-- Environment variables runwatch reads (the man page's ENVIRONMENT section).
M.environment = {
  {"WANDB_API_KEY", "the W&B API key (else $CREDENTIALS_DIRECTORY/wandb_api_key under systemd, else ~/.netrc); never printed or logged"},
  {"WANDB_BASE_URL", "the W&B server (default https://api.wandb.ai)"},
  {"WANDB_ENTITY, WANDB_PROJECT", "defaults for paths without an entity or project"},
  {"WANDB_DIR", "where --local without DIR looks (else ./wandb)"},
  {"XDG_STATE_HOME", "the default state file is $XDG_STATE_HOME/runwatch/state.db (else ~/.local/state)"},
  {"RW_PROGRESS", "1 or 0: progress bars on stderr always or never (default: when stderr is a terminal)"},
  {"NOTIFY_SOCKET", "set by systemd for Type=notify services: readiness, reload and stop are reported there"},
}

M.signals = "SIGINT and SIGTERM stop taking new ticks, give in-flight requests --stop-grace " ..
  "seconds, then exit 0; a second one exits at once (130). SIGHUP reloads the scripts from " ..
  "disk, after the deliveries in flight finish; if the new version fails to load, the old one " ..
  "keeps running."

M.summary = "script your Weights & Biases runs in Lua"

M.description = "runwatch is a native runtime that embeds Lua 5.4 so that scripts can query " ..
  "Weights & Biases runs, update them, watch running runs and alert. A C host gives scripts " ..
  "timers, cron schedules, HTTP and lossless JSON, with every job running as a coroutine on one " ..
  "event loop. Several scripts can run in one process; each has its own global environment."

-- Files runwatch reads or installs (the man page's FILES section).
M.files = {
  {"$XDG_STATE_HOME/runwatch/state.db", "the default state file (cursors, alerts, outbox, audit log); PATH.lock holds its one writer"},
  {"/etc/runwatch/NAME/*.lua, /etc/runwatch/NAME.env", "the scripts and environment of the systemd service runwatch@NAME"},
  {"/var/lib/runwatch/NAME/state.db", "the state file of runwatch@NAME"},
}

return M
