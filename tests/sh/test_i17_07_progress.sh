# Issue 17 item 7: progress on long work. `inspect` of a directory tree and the first listing of
# local runs show a bar (done/total, rate; no ETA until it means something: test_progress.lua)
# when asked or on a terminal, and nothing on a pipe; `export --history` counts runs and rows
# (tests/sh/test_export.sh), backtest its runs (test_backtest.sh). The bar writes only to stderr:
# stdout stays the data.
. "$(dirname "$0")/lib.sh"
LIB="$LIB --cpu-budget 120"   # one long slice lists the tree; the bars, not the budget, are tested here
runs="${RW_SHARED:-$RW_SRC/../shared}/wandb-runs"
[ -d "$runs" ] || { echo "SKIP: $runs is absent (../shared not next to this clone)"; exit 77; }
n=$(ls -d "$runs"/*run-* | wc -l)
# a tree of many run directories (symlinks to the real ones, read in place)
mkdir -p "$tmp/tree"
for i in $(seq 1 10); do for d in "$runs"/*run-*; do ln -s "$d" "$tmp/tree/$(basename "$d")-$i"; done; done

# inspect, forced: a bar over the files on stderr, with the total, ending in a final line
RW_PROGRESS=1 $RW inspect $LIB "$tmp/tree" >"$tmp/out" 2>"$tmp/err"
total=$((n * 10))
expect_match "$tmp/err" "\] 100% $total/$total files"
expect_match "$tmp/err" "files/s +in [0-9]+:[0-9]{2}"
expect_no_match "$tmp/out" "files/s"
# the first local listing: a bar over the runs (one per run id), erased when done
expect_match "$tmp/err" "/$n runs"
# --no-progress and a pipe: nothing but the report's own messages
$RW inspect $LIB --no-progress "$tmp/tree" >"$tmp/out" 2>"$tmp/err2"
expect_no_match "$tmp/err2" "files/s|runs/s"
RW_PROGRESS=1 $RW inspect $LIB --no-progress "$tmp/tree" >"$tmp/out" 2>"$tmp/err2"
expect_no_match "$tmp/err2" "files/s|runs/s"
$RW inspect $LIB "$tmp/tree" >"$tmp/out" 2>"$tmp/err2"     # stderr is a file: no bar
expect_no_match "$tmp/err2" "files/s|runs/s"

# a script's first listing of local runs: the transient bar, then the line erased
RW_PROGRESS=1 expect_exit 0 $RW once $LIB --local "$tmp/tree" -e 'local k = 0 for _ in ipairs(api.runs()) do k = k + 1 end print(k)'
expect_match "$tmp/out" "^$n$"          # the 10 copies of each run are one run (same id)
expect_match "$tmp/err" "/$n runs"
last=$(tail -c 4 "$tmp/err" | od -An -c | tr -s ' ')
case "$last" in *'033 [ K'*) ok ;; *) bad "the listing bar is not erased at the end (ends with: $last)" ;; esac
finish
