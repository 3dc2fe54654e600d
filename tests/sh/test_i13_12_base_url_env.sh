# Issue 13 item 12: a bad WANDB_BASE_URL is a CommError that names the variable, at once (it was
# `http.lua:42: bad field 'url'`, and a malformed URL was retried for ~35 s).
. "$(dirname "$0")/lib.sh"
export WANDB_API_KEY=rwtest_0123456789abcdef0123456789abcdef01234567 NETRC=/nonexistent
for url in "ftp://x" "http://exa mple" "localhost:8080"; do
  WANDB_BASE_URL="$url" expect_exit 0 timeout 20 $RW once $LIB -e 'local ok, e = pcall(api.run, "e/p/r"); print(ok, e)'
  expect_match "$tmp/out" "false	CommError: WANDB_BASE_URL \"$url\""
  expect_no_match "$tmp/out" "bad field"
done
# a key put in the URL's user:password@ part never shows, even when the URL is refused
WANDB_BASE_URL="https://api:SeCrEtInUrl0123456789@localhost:99999" expect_exit 0 timeout 20 $RW once $LIB \
  -e 'local ok, e = pcall(api.run, "e/p/r"); print(ok, e); io.stderr:write("https://api:SeCrEtInUrl0123456789@x\n")'
expect_match "$tmp/out" 'CommError: WANDB_BASE_URL "https://\*\*\*@localhost:99999" has a bad port'
expect_no_match "$tmp/out" "SeCrEtInUrl"
expect_no_match "$tmp/err" "SeCrEtInUrl"
finish
