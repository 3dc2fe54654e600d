# Credentials: the key comes from WANDB_API_KEY or the netrc entry for host:port (a warning
# when the netrc is readable by others); it never appears in output -- print, log, errors,
# dry-run plans -- and is never sent to another host (webhooks, redirects, file downloads).
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && [ -d "$RW_SRC/tests/server/node_modules/graphql" ] || { echo "SKIP: test server not installed"; exit 77; }
KEY=rwtest_0123456789abcdef0123456789abcdef01234567

cat > "$tmp/leak.lua" <<'LUA'
local key = os.getenv("WANDB_API_KEY")
print("print:", key)
log.info("log: " .. key, {field = key})
log.warn("in a field", {k = "prefix-" .. key .. "-suffix"})
local run = api.run("rw-team/vision/abc123xy")
run.notes = "notes with " .. key
run:update()                                   -- dry-run: the plan shows the notes
local ok, err = pcall(error, "an error with " .. key)
print("pcall:", err)
spawn(function() error("job error " .. key) end)
LUA
cat > "$tmp/inner.sh" <<SH
$RW once $LIB --dry-run "$tmp/leak.lua" > "$tmp/leak.out" 2>&1
$RW once $LIB --dry-run --log-format json "$tmp/leak.lua" >> "$tmp/leak.out" 2>&1
exit 0
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/inner.sh"
expect_no_match "$tmp/leak.out" "$KEY"
expect_match "$tmp/leak.out" 'print:	\*\*\*'
expect_match "$tmp/leak.out" 'log: \*\*\*'
expect_match "$tmp/leak.out" 'notes with \*\*\*'
expect_match "$tmp/leak.out" 'job error \*\*\*'
expect_match "$tmp/leak.out" 'prefix-\*\*\*-suffix'

# netrc: the entry for the base URL's host:port, used when WANDB_API_KEY is unset
cat > "$tmp/netrc.sh" <<SH
hostport=\$(echo "\$WANDB_BASE_URL" | sed -E 's|^https?://||; s|/.*||')
printf 'machine other.example.com\n  login user\n  password wrong_0123456789abcdef0123456789abcdef0123\nmachine %s\n  login user\n  password %s\n' "\$hostport" "\$WANDB_API_KEY" > "$tmp/netrc"
chmod 600 "$tmp/netrc"
unset WANDB_API_KEY
NETRC="$tmp/netrc" $RW once $LIB -e 'print("netrc ok", api.run("rw-team/vision/abc123xy").id)' > "$tmp/netrc.out" 2>&1
chmod 644 "$tmp/netrc"
NETRC="$tmp/netrc" $RW once $LIB -e 'print("netrc 644", api.run("rw-team/vision/abc123xy").id)' > "$tmp/netrc644.out" 2>&1
printf 'machine nowhere.example.com\n  password x\n' > "$tmp/netrc2"; chmod 600 "$tmp/netrc2"
NETRC="$tmp/netrc2" $RW once $LIB -e 'print(pcall(api.run, "rw-team/vision/abc123xy"))' > "$tmp/nokey.out" 2>&1
exit 0
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/netrc.sh"
expect_match "$tmp/netrc.out" '^netrc ok	abc123xy$'
expect_no_match "$tmp/netrc.out" 'WARN'
expect_match "$tmp/netrc644.out" '^netrc 644	abc123xy$'
expect_match "$tmp/netrc644.out" 'WARN .*netrc is accessible by group or others.*chmod 600'
expect_match "$tmp/nokey.out" 'false	CommError: No API key configured'
expect_no_match "$tmp/netrc644.out" "$KEY"

# redirects and file downloads: the key goes only to the W&B origin
cat > "$tmp/redir.sh" <<SH
curl -s -X POST "\$RW_TEST_SERVER/_admin/files" -d '{"redirect": true}' >/dev/null
$RW once $LIB -e 'local md = api.run("rw-team/vision/abc123xy").metadata; print("metadata", md and md.git.remote)' > "$tmp/redir.out" 2>&1
curl -s "\$RW_TEST_SERVER/_admin/requests" > "$tmp/redir.log"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/redir.sh"
expect_match "$tmp/redir.out" '^metadata	https://github.com/rw-team/vision.git$'
node -e '
const log = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const files = log.filter(e => e.path.startsWith("/files/"));
const storage = log.filter(e => e.path.startsWith("/storage/"));
if (!files.length || files.some(e => e.auth !== "ok")) { console.log("FAIL files", JSON.stringify(files)); process.exit(1); }
if (!storage.length || storage.some(e => e.auth_header)) { console.log("FAIL storage", JSON.stringify(storage)); process.exit(1); }
console.log("redirect ok");' "$tmp/redir.log" > "$tmp/redir.check" 2>&1
expect_match "$tmp/redir.check" '^redirect ok$'

# extra headers for other services (bot tokens) reach the receiver and never appear in logs,
# even at debug level
cat > "$tmp/hdr.sh" <<SH
hook=\$(echo \$RW_TEST_SERVER | sed s/127.0.0.1/localhost/)/hooks/bot
$RW once $LIB --log-level debug -e "local r = http.post('\$hook', {a = 1}, {headers = {['X-Bot-Token'] = 'xoxb-secret-bot-token-77'}}); log.info('status', {s = r.status}); actions.webhook('\$hook', {b = 2}, {headers = {Authorization = 'Bearer xoxb-secret-bot-token-77'}})" > "$tmp/hdr.out" 2>&1
curl -s "\$RW_TEST_SERVER/_admin/hooks?name=bot" > "$tmp/hdr.json"
SH
"$RW_SRC/tests/server/with-server.sh" -- bash "$tmp/hdr.sh"
expect_match "$tmp/hdr.json" 'xoxb-secret-bot-token-77'
expect_match "$tmp/hdr.out" 'status s=200'
expect_no_match "$tmp/hdr.out" 'xoxb-secret-bot-token-77'

# TLS verification is on unless --insecure, which warns
expect_exit 0 $RW once $LIB --insecure -e 'print(1)'
expect_match "$tmp/err" 'insecure.*NOT verified'
finish
