# The http_proxy / no_proxy environment variables are honoured: a request for a host that does
# not exist goes through the proxy (the loopback fixture, which answers absolute-URI requests).
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
fifo="$tmp/fifo"; mkfifo "$fifo"
node "$RW_SRC/tests/fixtures/httpd.js" > "$fifo" &
pid=$!
read -r line < "$fifo"
port=$(echo "$line" | sed -E 's/.*"port":([0-9]+).*/\1/')
http_proxy="http://127.0.0.1:$port" expect_exit 0 $RW once $LIB -e \
  'local r, err = http.get("http://no-such-host.invalid/ok"); print(r and r.status, r and r.body, err)'
expect_match "$tmp/out" '^200	ok	nil$'
http_proxy="http://127.0.0.1:$port" no_proxy="no-such-host.invalid" expect_exit 0 $RW once $LIB -e \
  'local r, err = http.get("http://no-such-host.invalid/ok"); print(r and r.status, err ~= nil)'
expect_match "$tmp/out" '^nil	true$'
kill $pid
finish
