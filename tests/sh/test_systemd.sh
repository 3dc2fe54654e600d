# Running as a systemd service (issue 17 item 3): the sd_notify messages a fake NOTIFY_SOCKET
# receives (path and abstract names), the unit file through `systemd-analyze verify`, and
# `cmake --install` laying out the binary, man page, completion, examples and unit.
. "$(dirname "$0")/lib.sh"

wait_for() {  # wait_for FILE REGEX [SECONDS]
  local i
  for i in $(seq 1 $(( ${3:-10} * 20 ))); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# {====== sd_notify: READY=1 after the scripts loaded, RELOADING=1 then READY=1 around SIGHUP
# (a failed reload too: the old scripts run on), STOPPING=1 at SIGTERM; in that order

if ! command -v python3 >/dev/null; then echo "SKIP: python3 (the fake NOTIFY_SOCKET) is not installed"; exit 77; fi
# the fake systemd: receives datagrams on ADDR (a path, or @name for the abstract namespace),
# one line each (newlines inside a message shown as |), until killed
cat > "$tmp/notify.py" <<'PY'
import socket, sys
addr, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
open(out + ".bound", "w").close()
with open(out, "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY

notify_run() {  # notify_run ADDR LABEL
  local addr=$1 label=$2 got="$tmp/notify-$2.txt" recv pid rc
  : > "$got"; rm -f "$got.bound"
  python3 "$tmp/notify.py" "$addr" "$got" & recv=$!
  wait_for "$got.bound" '' 5 || [ -e "$got.bound" ] || bad "$label: the fake NOTIFY_SOCKET did not start"
  printf 'print("env", tostring(os.getenv("NOTIFY_SOCKET")))\nevery("1h", function() end)\n' > "$tmp/svc.lua"
  NOTIFY_SOCKET=$addr $RW run $LIB "$tmp/svc.lua" > "$tmp/out" 2> "$tmp/err" & pid=$!
  wait_for "$got" '^READY=1' || bad "$label: no READY=1 after the scripts loaded"
  # what the scripts (and anything they start) see: the variable is gone
  expect_match "$tmp/out" '^env	nil$'
  kill -HUP $pid
  wait_for "$got" 'RELOADING=1' || bad "$label: no RELOADING=1 at SIGHUP"
  wait_for "$tmp/err" 'reload done' || bad "$label: the reload did not finish"
  printf 'every("1h", function() end\n' > "$tmp/svc.lua"      # a broken version: the reload fails
  kill -HUP $pid
  wait_for "$tmp/err" 'reload failed' || bad "$label: the failed reload was not logged"
  sleep 0.1
  kill -TERM $pid
  wait $pid; rc=$?
  [ "$rc" = 0 ] && ok || bad "$label: exit $rc after SIGTERM"
  sleep 0.1
  kill $recv 2>/dev/null; wait $recv 2>/dev/null
  local seq
  seq=$(cut -d'|' -f1 "$got" | tr '\n' ' ')
  [ "$seq" = "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1 " ] && ok ||
    bad "$label: messages in order READY, RELOADING, READY (twice), STOPPING; got: $seq"
  grep -qE '^RELOADING=1\|.*MONOTONIC_USEC=[0-9]+' "$got" && ok || bad "$label: RELOADING=1 without MONOTONIC_USEC: $(cat "$got")"
}
notify_run "$tmp/notify.sock" path
notify_run "@runwatch-test-$$" abstract

# `once` reports READY=1 and STOPPING=1 too (it may be a Type=notify oneshot's main process)
: > "$tmp/notify-once.txt"; rm -f "$tmp/notify-once.txt.bound"
python3 "$tmp/notify.py" "$tmp/once.sock" "$tmp/notify-once.txt" & recv=$!
wait_for "$tmp/notify-once.txt.bound" '' 5 || [ -e "$tmp/notify-once.txt.bound" ]
NOTIFY_SOCKET=$tmp/once.sock expect_exit 0 $RW once $LIB -e 'print(1)'
sleep 0.2; kill $recv 2>/dev/null; wait $recv 2>/dev/null
[ "$(tr '\n' ' ' < "$tmp/notify-once.txt" | sed 's/|[^ ]*//g')" = "READY=1 STOPPING=1 " ] && ok || bad "once: $(cat "$tmp/notify-once.txt")"
# a NOTIFY_SOCKET that leads nowhere: a warning, and the work goes on
NOTIFY_SOCKET=$tmp/nobody.sock expect_exit 0 $RW once $LIB -e 'print(2)'
expect_match "$tmp/out" '^2$'
expect_match "$tmp/err" 'sd_notify: cannot send'
NOTIFY_SOCKET=relative/path expect_exit 0 $RW once $LIB -e 'print(3)'
expect_match "$tmp/err" 'NOTIFY_SOCKET is not a socket path'

# the API key from a systemd credential (LoadCredential=wandb_api_key:...) when WANDB_API_KEY is
# not set; the variable still wins; the key is redacted like any other
mkdir -p "$tmp/creds"; printf 'rwtest_credential_key_0123456789abcdef\n' > "$tmp/creds/wandb_api_key"
cat > "$tmp/cred.lua" <<'LUA'
local s = require("runwatch.wb.settings").resolve({})
print(s.key_source, s.api_key == "rwtest_credential_key_0123456789abcdef")
print("key: " .. tostring(s.api_key))
LUA
(unset WANDB_API_KEY; HOME=$tmp CREDENTIALS_DIRECTORY=$tmp/creds expect_exit 0 $RW once $LIB "$tmp/cred.lua"
 expect_match "$tmp/out" '^systemd credential wandb_api_key	true$'
 expect_match "$tmp/out" '^key: \*\*\*$'
 finish >/dev/null) || bad "the systemd credential (lines above)"
(WANDB_API_KEY=rwtest_from_env_0123456789abcdef HOME=$tmp CREDENTIALS_DIRECTORY=$tmp/creds expect_exit 0 $RW once $LIB "$tmp/cred.lua"
 expect_match "$tmp/out" '^WANDB_API_KEY	false$'
 finish >/dev/null) || bad "WANDB_API_KEY before the credential (lines above)"

# }======

# {====== cmake --install: binary, man page, completion, examples and the unit (naming the
# installed binary) under the prefix

build=$(dirname "$RW_BIN")
if [ -f "$build/cmake_install.cmake" ]; then
  cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log" 2>&1 && ok || { bad "cmake --install failed"; cat "$tmp/install.log"; }
  for f in bin/runwatch share/man/man1/runwatch.1 share/bash-completion/completions/runwatch \
           share/doc/runwatch/examples/hello.lua share/doc/runwatch/examples/local_demo.lua \
           share/doc/runwatch/demo/make_runs.lua lib/systemd/system/runwatch@.service; do
    [ -s "$tmp/prefix/$f" ] && ok || bad "cmake --install did not install $f"
  done
  expect_match "$tmp/prefix/lib/systemd/system/runwatch@.service" "^ExecStart=$tmp/prefix/bin/runwatch run "
  expect_exit 0 "$tmp/prefix/bin/runwatch" --version
else
  echo "SKIP (install part): no cmake_install.cmake beside $RW_BIN"
fi

# }======

# {====== the unit file: systemd-analyze verify (where systemd is installed) finds nothing to say

unit="$RW_SRC/scripts/systemd/runwatch@.service"
expect_match "$unit" '^Type=notify$'
expect_match "$unit" '^ExecReload=/bin/kill -HUP \$MAINPID$'
expect_match "$unit" '^Restart=on-failure$'
expect_match "$unit" '^StateDirectory=runwatch/%i$'
expect_match "$unit" '^EnvironmentFile=-/etc/runwatch/%i.env$'
if command -v systemd-analyze >/dev/null; then
  # an instance of the template, naming the binary under test; --man=no: the page is not installed
  sed "s|/usr/bin/runwatch|$RW_BIN|" "$unit" > "$tmp/runwatch@test.service"
  if systemd-analyze verify --man=no "$tmp/runwatch@test.service" > "$tmp/verify.txt" 2>&1 && ! [ -s "$tmp/verify.txt" ]; then ok
  else bad "systemd-analyze verify runwatch@.service:"; sed 's/^/  | /' "$tmp/verify.txt"; fi
  # the check can fail: a misspelt setting is reported
  sed 's/^Type=notify$/Type=notifyy/' "$tmp/runwatch@test.service" > "$tmp/runwatch@bad.service"
  systemd-analyze verify --man=no "$tmp/runwatch@bad.service" > "$tmp/verify.txt" 2>&1
  [ -s "$tmp/verify.txt" ] && ok || bad "systemd-analyze verify said nothing about Type=notifyy"
  if [ -f "$tmp/prefix/lib/systemd/system/runwatch@.service" ]; then
    cp "$tmp/prefix/lib/systemd/system/runwatch@.service" "$tmp/runwatch@installed.service"
    systemd-analyze verify --man=no "$tmp/runwatch@installed.service" > "$tmp/verify.txt" 2>&1 && ! [ -s "$tmp/verify.txt" ] &&
      ok || { bad "systemd-analyze verify of the installed unit:"; sed 's/^/  | /' "$tmp/verify.txt"; }
  fi
else
  echo "SKIP (unit check): systemd-analyze is not installed (apt-get install systemd)"
fi

# }======

finish
