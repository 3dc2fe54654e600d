#!/usr/bin/env bash
# `runwatch inspect` on demo runs, damaged copies and (when $RW_SHARED is there) the real runs; and the README's first command (demo runs, then the local demo script).
. "$(dirname "$0")/lib.sh"
SHARED=${RW_SHARED:-}/wandb-runs
demo="$tmp/demo"

# the README's first command: write the demo runs, then run the demo on them
expect_exit 0 $RW once $LIB --local "$demo" "$RW_SRC/scripts/demo/make_runs.lua"
expect_match "$tmp/out" "wrote 6 demo runs under"
expect_exit 0 $RW once $LIB --local "$demo" "$RW_SRC/scripts/examples/local_demo.lua"
expect_match "$tmp/out" "^6 local runs in "
expect_match "$tmp/out" "^dmo4fail +failed +cifar-oom +90 "
expect_match "$tmp/out" "^dmo5crsh +crashed "
expect_match "$tmp/out" "^p[0-9]{7} +running "
expect_match "$tmp/out" "best finished run with lr < 0.1: dmo3wide"
expect_match "$tmp/out" "dmo2hilr diverged: NaN loss at step 150"
expect_match "$tmp/out" "local runs are read-only"
expect_match "$tmp/out" "p[0-9]{7}: 120 new rows, step 119"

# usage
expect_exit 2 $RW inspect $LIB
expect_match "$tmp/err" "no PATH given"
expect_exit 0 $RW inspect $LIB --help
expect_match "$tmp/out" "^usage: runwatch inspect PATH"
expect_exit 2 $RW inspect $LIB --bogus "$demo"
expect_match "$tmp/err" "unknown option '--bogus'"

# a wandb/ parent directory: every run, state, tail of the killed run
expect_exit 0 $RW inspect $LIB "$demo"
expect_match "$tmp/out" "run-dmo1base.wandb$"
expect_match "$tmp/out" "history    300 rows, steps 0 \.\. 299"
expect_match "$tmp/out" "exit       code 1, runtime"
expect_match "$tmp/out" "state      failed \(from the exit record\)"
expect_match "$tmp/out" "state      crashed \(writer process [0-9]+ is gone\)"
expect_match "$tmp/out" "state      running \(from the files' last change"
expect_match "$tmp/out" "tail       40 bytes of an unfinished record at byte"
expect_match "$tmp/out" "complete   no"
expect_match "$tmp/out" "chunks     [0-9]+ full, 3 first, 0 middle, 3 last; 1 pads \(4 bytes\)"
expect_match "$tmp/out" "keys       8: _runtime _step _timestamp acc loss lr train/samples_per_sec val_loss"

# one .wandb file, one run directory
f=$(ls "$demo"/wandb/run-*-dmo3wide/run-dmo3wide.wandb)
expect_exit 0 $RW inspect $LIB "$f"
expect_match "$tmp/out" "records    1227: summary 801, history 400, stats 13, output_raw 8, config 2, exit 1, header 1, run 1"
expect_exit 0 $RW inspect $LIB "$(dirname "$f")"
expect_match "$tmp/out" "complete   yes"

# --json, after or before the path
expect_exit 0 $RW inspect $LIB "$f" --json
expect_match "$tmp/out" '"history_rows": 400'
expect_match "$tmp/out" '"state": "finished"'
expect_match "$tmp/out" '"errors": \[\]'
expect_exit 0 $RW inspect $LIB --json "$f"
expect_match "$tmp/out" '^\[$'

# damaged copies: errors with offsets, exit 1
mkdir -p "$tmp/bad"
cp "$f" "$tmp/bad/run-dmo3wide.wandb"
printf '\xff\xff\xff\xff' | dd of="$tmp/bad/run-dmo3wide.wandb" bs=1 seek=40000 conv=notrunc 2>/dev/null
expect_exit 1 $RW inspect $LIB "$tmp/bad"
expect_match "$tmp/out" "errors     1 \([0-9]+ bytes skipped\)"
expect_match "$tmp/out" "    at byte 3[0-9]+: bad chunk CRC"
expect_match "$tmp/out" "state      finished"
printf 'not a log at all' > "$tmp/bad/run-dmo3wide.wandb"
expect_exit 1 $RW inspect $LIB "$tmp/bad/run-dmo3wide.wandb"
expect_match "$tmp/err" "not a .wandb file"
expect_exit 1 $RW inspect $LIB "$tmp/nonexistent"
expect_match "$tmp/err" "nonexistent: No such file or directory"
mkdir -p "$tmp/empty"
expect_exit 1 $RW inspect $LIB "$tmp/empty"
expect_match "$tmp/err" "no .wandb file found"

# the real runs, when they are there
if [ -d "$SHARED" ]; then
  expect_exit 0 $RW inspect $LIB "$SHARED"
  expect_match "$tmp/out" "records    10947: output_raw 4294, summary 4291, history 2145, stats 208"
  expect_match "$tmp/out" "history    2145 rows, steps 0 \.\. 107124"
  expect_match "$tmp/out" "exit       code 0, runtime 1563 s \(26m03s\)"
  expect_match "$tmp/out" "chunks     10906 full, 41 first, 0 middle, 41 last; 2 pads \(5 bytes\)"
  expect_match "$tmp/out" "history    2 rows, steps 0 \.\. 1"
  expect_match "$tmp/out" "records    10: "
  expect_no_match "$tmp/out" "errors     [1-9]"
  finish
else
  echo "SKIP (partly): $SHARED not found: the real runs were not inspected"
  finish || exit 1
  exit 77
fi
