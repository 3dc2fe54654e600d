// Counts what arrived at the receiving end (the test server's webhook receiver, its recorded W&B
// alerts, the stored runs' notes, tags and history) and prints shell assignments (prefix_name=N)
// for tests/chaos: lost = expected but absent, repeats = arrivals beyond the first.
//
//   node count.js hooks NAME [--id f1,f2] [--expect FILE] [--prefix P]
//       webhooks received at /hooks/NAME; a notification's identity is the listed fields of its
//       JSON body joined by "|" (default: the whole body). total, logical (distinct identities),
//       repeats (total - logical), nokey (arrivals without an Idempotency-Key header), multikey
//       (identities that came under two or more keys: repeats a receiver cannot drop), keyrepeats
//       (arrivals beyond the first per key: repeats a receiver drops by the key), lost (lines of
//       FILE never received), unexpected (identities not in FILE), contains_key (the API key in it)
//   node count.js alerts [--expect FILE] [--match REGEX] [--prefix P]
//       W&B alerts (notifyScriptableRunAlert); identity "runName|title" (only those matching REGEX)
//   node count.js notes PATH... [--expect FILE] [--prefix P]
//       note lines of the runs (e/p/id); identity "id|line" (empty lines ignored)
//   node count.js tags PATH TAG [PATH TAG...] [--prefix P]      missing = pairs not on the server
//   node count.js rows ROWS_JSON RUNS_FILE [--prefix P]
//       ROWS_JSON: {"e/p/id": [steps delivered, in order]}; RUNS_FILE: run paths whose every
//       stored step is expected. expected, got, lost, repeats (a step delivered again), extra
//       (steps the server does not have), runs, runs_bad (runs with any of these)
// The server is $RW_TEST_SERVER.
'use strict';
const fs = require('fs');

const base = process.env.RW_TEST_SERVER;
if (!base) { console.error('count.js: RW_TEST_SERVER not set'); process.exit(2); }

async function get(path) {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(base + '/_admin/' + path);
      if (!res.ok) throw new Error(`HTTP ${res.status} for ${path}: ${await res.text()}`);
      return await res.json();
    } catch (e) {
      if (i >= 10) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

function opts(argv) {
  const o = { args: [], prefix: null, id: null, expect: null, match: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--prefix') o.prefix = argv[++i];
    else if (argv[i] === '--id') o.id = argv[++i].split(',');
    else if (argv[i] === '--expect') o.expect = argv[++i];
    else if (argv[i] === '--match') o.match = new RegExp(argv[++i]);
    else o.args.push(argv[i]);
  }
  return o;
}

function expected(file) {
  if (!file) return null;
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
}

function print(prefix, counts) {
  for (const [k, v] of Object.entries(counts)) console.log(`${prefix}_${k}=${v}`);
}

// identities -> counts: total, logical, repeats, lost, unexpected
function tally(ids, want) {
  const n = new Map();
  for (const id of ids) n.set(id, (n.get(id) || 0) + 1);
  const c = { total: ids.length, logical: n.size, repeats: ids.length - n.size };
  if (want) {
    const w = new Set(want);
    c.expected = w.size;
    c.lost = [...w].filter((x) => !n.has(x)).length;
    c.unexpected = [...n.keys()].filter((x) => !w.has(x)).length;
  }
  return { c, n };
}

async function hooks(o) {
  const name = o.args[0];
  const list = await get('hooks?name=' + encodeURIComponent(name));
  const ident = (h) => {
    if (!o.id) return h.body;
    const j = h.json || {};
    return o.id.map((f) => (j[f] === undefined ? '' : typeof j[f] === 'string' ? j[f] : JSON.stringify(j[f]))).join('|');
  };
  const ids = list.map(ident);
  const { c } = tally(ids, expected(o.expect));
  const keyOf = (h) => h.headers['idempotency-key'];
  c.nokey = list.filter((h) => !keyOf(h)).length;
  const keysById = new Map(), perKey = new Map();
  list.forEach((h, i) => {
    const k = keyOf(h);
    if (!k) return;
    if (!keysById.has(ids[i])) keysById.set(ids[i], new Set());
    keysById.get(ids[i]).add(k);
    perKey.set(k, (perKey.get(k) || 0) + 1);
  });
  c.multikey = [...keysById.values()].filter((s) => s.size > 1).length;
  c.keyrepeats = [...perKey.values()].reduce((a, x) => a + x - 1, 0);
  c.contains_key = list.filter((h) => h.contains_api_key || h.has_authorization).length;
  print(o.prefix || 'hooks', c);
}

async function alerts(o) {
  const list = await get('alerts');
  let ids = list.map((a) => `${a.runName}|${a.title}`);
  if (o.match) ids = ids.filter((x) => o.match.test(x));
  const { c } = tally(ids, expected(o.expect));
  print(o.prefix || 'alerts', c);
}

async function notes(o) {
  const ids = [];
  for (const path of o.args) {
    const r = await get('run/' + path);
    for (const line of String(r.notes || '').split('\n')) if (line !== '') ids.push(`${r.name}|${line}`);
  }
  const { c } = tally(ids, expected(o.expect));
  print(o.prefix || 'notes', c);
}

async function tags(o) {
  let missing = 0, pairs = 0;
  for (let i = 0; i + 1 < o.args.length; i += 2) {
    const r = await get('run/' + o.args[i]);
    pairs++;
    if (!r.tags.includes(o.args[i + 1])) missing++;
  }
  print(o.prefix || 'tags', { pairs, missing });
}

async function rows(o) {
  const got = JSON.parse(fs.readFileSync(o.args[0], 'utf8') || '{}');
  const runs = expected(o.args[1]);
  const c = { runs: runs.length, expected: 0, got: 0, lost: 0, repeats: 0, extra: 0, runs_bad: 0 };
  for (const path of runs) {
    const r = await get('run/' + path + '?history=1');
    const have = new Set();
    for (const text of r.history) {
      const m = /"_step"\s*:\s*(-?\d+)/.exec(text);
      if (m) have.add(Number(m[1]));
    }
    const steps = got[path] || [];
    const seen = new Map();
    for (const s of steps) seen.set(s, (seen.get(s) || 0) + 1);
    let lost = 0, rep = 0, extra = 0;
    for (const s of have) if (!seen.has(s)) lost++;
    for (const [s, k] of seen) { rep += k - 1; if (!have.has(s)) extra++; }
    c.expected += have.size; c.got += steps.length; c.lost += lost; c.repeats += rep; c.extra += extra;
    if (lost + rep + extra > 0) c.runs_bad++;
  }
  print(o.prefix || 'rows', c);
}

const cmds = { hooks, alerts, notes, tags, rows };
const [cmd, ...rest] = process.argv.slice(2);
if (!cmds[cmd]) { console.error('usage: count.js hooks|alerts|notes|tags|rows ...'); process.exit(2); }
cmds[cmd](opts(rest)).catch((e) => { console.error('count.js: ' + e.message); process.exit(2); });
