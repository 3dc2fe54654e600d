# Helpers for the shell tests of the CLI: check, expect_exit, expect_match, a summary line.
# RW_BIN is the runwatch binary; RW_SRC the source tree.
set -u
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/xdg-state"   # never the user's own state database
RW="$RW_BIN"
LIB="--lib-dir $RW_SRC/scripts/lib"

ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*"; }
# expect_exit WANT CMD... -- runs CMD, output in $tmp/out and $tmp/err
expect_exit() {
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ "$rc" = "$want" ]; then ok; else bad "exit $rc, want $want: $*"; sed 's/^/  | /' "$tmp/err" | head -20; fi
}
# expect_match FILE REGEX
expect_match() { if grep -qE -- "$2" "$1"; then ok; else bad "$1 lacks /$2/"; sed 's/^/  | /' "$1" | head -20; fi; }
expect_no_match() { if grep -qE -- "$2" "$1"; then bad "$1 has /$2/"; else ok; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }
