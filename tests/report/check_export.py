#!/usr/bin/env python3
"""Checks a `runwatch export` file against what the W&B test server stores, with standard parsers.

usage: check_export.py SERVER ENTITY/PROJECT FILE csv|jsonl|json [--history KEYS] [--count N]

CSV is read with Python's csv module (RFC 4180); every cell is compared with the stored value:
strings verbatim, integers exact, floats as repr() (shortest round-trip), NaN/inf/-inf,
True/False, nested values as JSON, missing/null empty. JSON Lines / JSON objects are compared
value for value (type included: 1 and 1.0 differ). With --history, one row per run and step,
compared with the stored history rows. Prints a summary; exits 1 on the first mismatches.
"""
import csv
import json
import math
import sys
import urllib.parse
import urllib.request

server, project, path, fmt = sys.argv[1:5]
opts = sys.argv[5:]
history = None
want_count = None
while opts:
    o = opts.pop(0)
    if o == "--history":
        history = opts.pop(0).split(",")
    elif o == "--count":
        want_count = int(opts.pop(0))

errors = []


def bad(msg):
    errors.append(msg)
    if len(errors) <= 20:
        print("MISMATCH:", msg)


def admin(p):
    with urllib.request.urlopen(server + "/_admin/" + p) as r:
        return json.loads(r.read().decode("utf-8"))


cache = {}


def stored(run_id):
    if run_id not in cache:
        r = admin("run/" + project + "/" + urllib.parse.quote(run_id) + ("?history=1" if history else ""))
        cfg = json.loads(r["config"]) if r.get("config") else {}
        cfg = {k: (v["value"] if isinstance(v, dict) and "value" in v else v)
               for k, v in cfg.items() if k not in ("_wandb", "wandb_version")}
        sm = json.loads(r["summaryMetrics"]) if r.get("summaryMetrics") else {}
        runtime = sm.get("_runtime")
        if runtime is None and isinstance(sm.get("_wandb"), dict):
            runtime = sm["_wandb"].get("runtime")
        sm = {k: v for k, v in sm.items() if k != "_wandb"}   # W&B's internal key: not a default column
        rows = [json.loads(x) if isinstance(x, str) else x for x in (r.get("history") or [])]
        user = r.get("user") or {}
        cache[run_id] = {"id": r["name"], "name": r.get("displayName"), "state": r.get("state"),
                         "tags": r.get("tags"), "notes": r.get("notes"), "user": {"username": user.get("username")},
                         "group": r.get("group"), "created_at": r.get("createdAt"),
                         "runtime": float(runtime) if runtime is not None else None, "sweep_name": r.get("sweepName"),
                         "config": cfg, "summary": sm, "history": rows}
    return cache[run_id]


MISSING = object()


def nested(t, path):
    """t[path] if that key exists, else t[a][rest] for each split at a dot (as the exporter)."""
    if not isinstance(t, dict):
        return MISSING
    if path in t:
        return t[path]
    i = 0
    while True:
        dot = path.find(".", i)
        if dot < 0:
            return MISSING
        sub = t.get(path[:dot])
        if isinstance(sub, dict):
            r = nested(sub, path[dot + 1:])
            if r is not MISSING:
                return r
        i = dot + 1


def lookup(run, col):
    head, _, rest = col.partition(".")
    if head in ("config", "summary"):
        return nested(run[head], rest) if rest else MISSING
    v = run.get(head, MISSING)
    return nested(v, rest) if rest else v


def cell_text(v):
    """The CSV text the exporter must write for v, or None for nested values (compared as JSON)."""
    if v is MISSING or v is None:
        return ""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return v
    return None


def same(a, b):
    """Equality with types (1 != 1.0, True != 1) and NaN == NaN, through lists and dicts."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def check_cell(cell, v, label):
    want = cell_text(v)
    if want is None:
        try:
            got = json.loads(cell)
        except ValueError as e:
            bad("%s: %r is not JSON (%s)" % (label, cell, e))
            return
        if not same(got, v):
            bad("%s: %r, want %r" % (label, got, v))
    elif cell != want:
        bad("%s: %r, want %r" % (label, cell, want))
    elif isinstance(v, float) and not (math.isnan(v) or math.isinf(v)):
        f = float(cell)
        if f != v or math.copysign(1, f) != math.copysign(1, v):
            bad("%s: %r does not round-trip" % (label, cell))


def check_value(got, v, label):
    if v is MISSING:
        bad("%s: %r present, want it left out" % (label, got))
    elif not same(got, v):
        bad("%s: %r, want %r" % (label, got, v))


def records():
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, strict=True))
        header = rows[0]
        return header, [dict(zip(header, r)) for r in rows[1:]], [len(r) for r in rows[1:]]
    with open(path, encoding="utf-8") as f:
        if fmt == "jsonl":
            objs = [json.loads(line) for line in f if line.strip()]
        else:
            objs = json.load(f)
    return None, objs, None


header, recs, widths = records()
if widths and any(w != len(header) for w in widths):
    bad("a record with the wrong number of fields")
values = 0
runs_seen = set()
for i, rec in enumerate(recs):
    run = stored(rec["id"])
    runs_seen.add(rec["id"])
    label = "record %d (%s)" % (i + 1, rec["id"])
    if history:
        step = int(rec["_step"])
        rows = [r for r in run["history"] if r.get("_step") == step]
        if len(rows) != 1:
            bad("%s: step %d not stored once" % (label, step))
            continue
        for k in history:
            v = rows[0].get(k, MISSING)
            if fmt == "csv":
                check_cell(rec[k], v, label + " step %d %s" % (step, k))
            elif v is MISSING:
                if k in rec:
                    bad("%s: %s present, the row has none" % (label, k))
            else:
                check_value(rec.get(k, MISSING), v, label + " step %d %s" % (step, k))
            values += 1
        continue
    cols = header if header else list(rec.keys())
    for col in cols:
        v = lookup(run, col)
        if fmt == "csv":
            check_cell(rec[col], v, label + " " + col)
        else:
            check_value(rec[col], v, label + " " + col)
        values += 1
    if fmt != "csv":
        fixed = ["id", "name", "state", "tags", "notes", "user.username", "group", "created_at", "runtime", "sweep_name"]
        own = sum(1 for c in fixed if lookup(run, c) not in (MISSING, None)) + len(run["config"]) + len(run["summary"])
        if len(rec) != own:
            bad("%s: %d keys, the run has %d" % (label, len(rec), own))
if history:
    want_rows = sum(len([r for r in stored(i)["history"] if all(k in r for k in history)]) for i in runs_seen)
    if len(recs) != want_rows:
        bad("%d history rows, the server holds %d" % (len(recs), want_rows))
if want_count is not None and len(recs) != want_count:
    bad("%d records, want %d" % (len(recs), want_count))
print("%s %s: %d records, %d runs, %d values compared, %d mismatches" %
      (fmt, path.rsplit("/", 1)[-1], len(recs), len(runs_seen), values, len(errors)))
sys.exit(1 if errors else 0)
