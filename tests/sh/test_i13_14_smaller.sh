# Issue 13 item 14, the smaller ones: a report chart series with one point is visible (it drew
# an empty path and a dot shown only on hover); the .netrc permission warning is printed once
# however many Api objects read the file (it was twice); `error({...})` shows the table's fields
# (it showed "(error object is a table value)"). The ETA part is tests/lua/test_progress.lua.
. "$(dirname "$0")/lib.sh"

# a one-point series, and one point between two gaps: each dot has class "lone" (always shown)
cat > "$tmp/report.lua" <<LUA
local nan = 0/0
assert(report.html{title = "t", path = "$tmp/r.html", sections = {
  {type = "chart", title = "one", y = "loss", series = {{name = "single", points = {{5, 0.5}}}}},
  {type = "chart", title = "gaps", y = "loss", series = {{name = "g", points = {{1, 1}, {2, nan}, {3, 2}, {4, nan}, {5, 3}, {6, 4}}}}},
}})
LUA
expect_exit 0 $RW once $LIB "$tmp/report.lua"
lone=$(grep -o 'circle class="lone"' "$tmp/r.html" | wc -l)
[ "$lone" = 3 ] && ok || bad "want 3 lone dots (1 single + 2 between gaps), got $lone"
expect_match "$tmp/r.html" 'svg.chart circle.lone\{opacity:1\}'

# the .netrc warning: once, with three Api objects reading the same file
mkdir -p "$tmp/home"
printf 'machine 127.0.0.1:9\n  login user\n  password rwtest_0123456789abcdef0123456789abcdef01234567\n' > "$tmp/home/.netrc"
chmod 644 "$tmp/home/.netrc"
HOME="$tmp/home" WANDB_API_KEY= NETRC= WANDB_BASE_URL=http://127.0.0.1:9 \
  expect_exit 0 $RW once $LIB -e 'api.Api{}; api.Api{}; local _ = api.Api{entity = "x"}'
n=$(grep -c "accessible by group or others" "$tmp/err")
[ "$n" = 1 ] && ok || { bad "the .netrc warning printed $n times, want 1"; cat "$tmp/err"; }
expect_no_match "$tmp/err" "rwtest_0123456789"

# error({...}) at the top level and in a job: the fields, sorted, nested tables shortened
expect_exit 2 $RW once $LIB -e 'error({code = 5, msg = "boom", nested = {1, 2}})'
expect_match "$tmp/err" 'error object \{code = 5, msg = "boom", nested = \{\.\.\.\}\}'
expect_no_match "$tmp/err" 'error object is a table value'
expect_exit 1 $RW once $LIB -e 'every("1s", function() error({reason = "diverged", step = 120}) end)'
expect_match "$tmp/err" 'job failed: error object \{reason = "diverged", step = 120\}'
finish
