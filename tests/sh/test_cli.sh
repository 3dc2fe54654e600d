# The CLI as a user meets it: exit codes, usage, syntax errors with file:line, -e, check,
# several scripts with separate _ENVs, log formats, version and help.
. "$(dirname "$0")/lib.sh"

expect_exit 0 $RW --version;            expect_match "$tmp/out" '^runwatch [0-9]+\.[0-9]+'
expect_exit 0 $RW --help;               expect_match "$tmp/out" 'usage: runwatch'
expect_exit 2 $RW;                      expect_match "$tmp/err" 'no command given'
expect_exit 2 $RW frobnicate x.lua;     expect_match "$tmp/err" "unknown command 'frobnicate'"
expect_exit 2 $RW once --bogus x.lua;   expect_match "$tmp/err" "unknown option '--bogus'"
expect_exit 2 $RW once --log-level loud x.lua; expect_match "$tmp/err" "bad --log-level 'loud' \\(debug, info, warn, error or off\\)"
expect_exit 2 $RW once --cpu-budget x x.lua;   expect_match "$tmp/err" "bad --cpu-budget"
expect_exit 2 $RW once $LIB "$tmp/missing.lua"; expect_match "$tmp/err" 'cannot open script'

# a syntax error: exit 2 and file:line: message
printf 'local x = 1\nlocal y = = 2\n' > "$tmp/syntax.lua"
expect_exit 2 $RW once $LIB "$tmp/syntax.lua";  expect_match "$tmp/err" 'syntax.lua:2: unexpected symbol'
expect_exit 2 $RW check $LIB "$tmp/syntax.lua"; expect_match "$tmp/err" 'syntax.lua:2:'

# a top-level runtime error before any wait is a load error (2); after a wait, a job error (1)
printf 'local a\na.b = 1\n' > "$tmp/rt.lua"
expect_exit 2 $RW once $LIB "$tmp/rt.lua";      expect_match "$tmp/err" "rt.lua:2: attempt to index a nil value"
printf 'sleep(0.01)\nerror("late failure")\n' > "$tmp/late.lua"
expect_exit 1 $RW once $LIB "$tmp/late.lua";    expect_match "$tmp/err" 'late.lua:2: late failure'
printf 'every("10ms", function() error("tick boom") end)\n' > "$tmp/tick.lua"
expect_exit 1 $RW once $LIB "$tmp/tick.lua";    expect_match "$tmp/err" 'tick.lua:1: tick boom'

# -e, alone (implies once) and with a command
expect_exit 0 $RW $LIB -e 'print(6*7)';         expect_match "$tmp/out" '^42$'
expect_exit 2 $RW $LIB -e 'print(';             expect_match "$tmp/err" '\(command line\):1:'

# several scripts, each with its own _ENV (a global in one is not seen by the other)
printf 'shared_name = "from a"\nprint("a", shared_name)\n' > "$tmp/a.lua"
printf 'sleep(0.01)\nprint("b", tostring(shared_name), SCRIPT)\n' > "$tmp/b.lua"
expect_exit 0 $RW once $LIB "$tmp/a.lua" "$tmp/b.lua"
expect_match "$tmp/out" '^a	from a$'
expect_match "$tmp/out" '^b	nil	b.lua$'

# once: every job fires exactly once, then exit
printf 'local n = 0\nevery("1h", function() n = n + 1; print("tick", n) end)\ncron("0 9 * * MON", function() print("cron tick") end)\n' > "$tmp/once.lua"
expect_exit 0 $RW once $LIB "$tmp/once.lua"
expect_match "$tmp/out" '^tick	1$'
expect_match "$tmp/out" '^cron tick$'
[ "$(grep -c tick "$tmp/out")" = 2 ] && ok || bad "once mode fired more than once"

# check: no network, no execution; literal durations and cron expressions are validated
printf 'print("SHOULD NOT RUN")\nevery("5x", function() end)\n' > "$tmp/lint.lua"
expect_exit 2 $RW check $LIB "$tmp/lint.lua"
expect_match "$tmp/err" 'lint.lua:2: bad duration "5x"'
expect_no_match "$tmp/out" 'SHOULD NOT RUN'
printf 'cron("0 25 * * *", function() end)\n' > "$tmp/lintc.lua"
expect_exit 2 $RW check $LIB "$tmp/lintc.lua";  expect_match "$tmp/err" 'lintc.lua:1: .*hour'
printf 'local n = 0\nevry("5m", function() n = n + 1 end)\nlocal t = {foo = 1}\nprint(t.foo, json.encode({}), n)\n' > "$tmp/typo.lua"
expect_exit 0 $RW check $LIB "$tmp/typo.lua"
expect_match "$tmp/err" "typo.lua:2: warning: global 'evry' is read but never defined"
expect_no_match "$tmp/err" "global 'foo'"
expect_no_match "$tmp/err" "global 'json'"
printf 'every("5m", function() end)\n' > "$tmp/good.lua"
expect_exit 0 $RW check $LIB "$tmp/good.lua";   expect_match "$tmp/out" 'ok  .*good.lua'

# bad duration / cron expression at run time: an error naming the expression and position
printf 'every("1h1h", function() end)\n' > "$tmp/dur.lua"
expect_exit 2 $RW once $LIB "$tmp/dur.lua";     expect_match "$tmp/err" 'dur.lua:1: bad duration "1h1h".*position'
printf 'cron("* * * *", function() end)\n' > "$tmp/cr.lua"
expect_exit 2 $RW run $LIB "$tmp/cr.lua";       expect_match "$tmp/err" 'cr.lua:1: bad cron expression'

# log formats: every line names the script and the job
printf 'log.info("hello", {n = 1, s = "two words"})\n' > "$tmp/log.lua"
expect_exit 0 $RW once $LIB --log-format json "$tmp/log.lua"
expect_match "$tmp/err" '"level":"info","script":"log.lua","job":"main","msg":"hello"'
expect_match "$tmp/err" '"n":1'
expect_exit 0 $RW once $LIB "$tmp/log.lua"
expect_match "$tmp/err" 'INFO  \[log.lua/main\] hello n=1 s="two words"'
expect_exit 0 $RW once $LIB --log-level warn "$tmp/log.lua"
expect_no_match "$tmp/err" 'hello'

# dry-run is visible to Lua
expect_exit 0 $RW once $LIB --dry-run -e 'print(dry_run, runwatch.dry_run)'
expect_match "$tmp/out" '^true	true$'

finish
