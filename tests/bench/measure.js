#!/usr/bin/env node
// The bench driver (tests/bench/run.sh runs it under tests/server/with-server.sh): for each
// workload it loads the test server with generated data, runs the runwatch client and the
// baseline client (baseline.js) one after the other under the `measure` binary (wall time, CPU
// user+sys and peak RSS of the child from wait4), reads what each sent from the server's request
// log (requests, bytes of the answers as sent, i.e. gzipped where the client accepted gzip),
// prints the table and writes every number to OUT/results.json.
//
//   node measure.js --runwatch BIN --measure BIN --out DIR [--latency MS] [--quick] [--only a,b,c,d,e]
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');

const HERE = __dirname;
const SERVER = process.env.RW_TEST_SERVER;
if (!SERVER) { console.error('measure.js: RW_TEST_SERVER not set (run tests/bench/run.sh)'); process.exit(2); }

// ---------------------------------------------------------------- options and sizes

const o = { latency: 50, quick: false, only: 'a,b,c,d,e', out: null, runwatch: null, measure: null, scanFraction: 1 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const val = () => process.argv[++i];
  if (a === '--latency') o.latency = Number(val());
  else if (a === '--quick') o.quick = true;
  else if (a === '--only') o.only = val();
  else if (a === '--out') o.out = val();
  else if (a === '--runwatch') o.runwatch = val();
  else if (a === '--measure') o.measure = val();
  else if (a === '--profile') o.profile = true;
  else if (a === '--lib-dir') o.libDir = val();
  else if (a === '--no-baseline') o.noBaseline = true;
  else if (a === '--check') o.check = true;
  else { console.error(`measure.js: unknown option ${a}`); process.exit(2); }
}
const only = new Set(o.only.split(','));

const SIZES = o.quick ? {
  a: { runs: 1000, baselineRuns: 200 },
  b: { running: 100 },
  c: { runs: 10, steps: 2000, baselineRuns: 10 },
  d: { repeat: 7 },
  e: { running: 1000 },
} : {
  a: { runs: 10000, baselineRuns: 1000 },
  b: { running: 1000 },
  c: { runs: 100, steps: 10000, baselineRuns: 100 },
  d: { repeat: 21 },
  e: { running: 10000 },
};

// ---------------------------------------------------------------- the test server's admin API

function admin(method, what, body) {
  const u = new URL(SERVER + '/_admin/' + what);
  return new Promise((resolve, reject) => {
    const text = body ? JSON.stringify(body) : '';
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const s = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) reject(new Error(`admin ${what}: HTTP ${res.statusCode} ${s.slice(0, 200)}`));
        else resolve(JSON.parse(s));
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}

// The server's request log since the last clear: count, bytes sent, per operation.
async function requestLog() {
  const list = await admin('GET', 'requests');
  const byOp = {};
  let bytes = 0;
  for (const e of list) {
    const op = e.operationName || e.path;
    byOp[op] = byOp[op] || { n: 0, bytes: 0 };
    byOp[op].n++;
    byOp[op].bytes += e.bytes_out;
    bytes += e.bytes_out;
  }
  return { requests: list.length, bytes, byOp, failed: list.filter((e) => e.status !== 200).length };
}

async function fresh(gen) {
  await admin('POST', 'reset', {});
  await admin('POST', 'latency', { ms: o.latency });
  const t0 = Date.now();
  const r = await admin('POST', 'generate', { entity: 'rw-team', seed: 7, ...gen });
  return { runs: r.runs, secs: (Date.now() - t0) / 1000 };
}

// ---------------------------------------------------------------- running a client

const OUT = o.out || fs.mkdtempSync(path.join(os.tmpdir(), 'rw-bench-'));
fs.mkdirSync(OUT, { recursive: true });
let seq = 0;

// Runs CMD under `measure`; returns {proc: {wall, user, sys, cpu, maxrss_kb, status}, result: the
// client's JSON line, log: the server's request log for the run}.
async function runClient(label, cmd, args, env, { clearLog = true } = {}) {
  seq++;
  const mfile = path.join(OUT, `${seq}-${label}.measure.json`);
  const stdoutFile = path.join(OUT, `${seq}-${label}.stdout`);
  if (clearLog) await admin('DELETE', 'requests');
  const state = fs.mkdtempSync(path.join(OUT, 'state-'));
  const r = spawnSync(o.measure, ['-o', mfile, '--', cmd, ...args], {
    env: { ...process.env, XDG_STATE_HOME: state, RW_BENCH_DIR: HERE, ...env },
    encoding: 'utf8', maxBuffer: 64 << 20,
  });
  fs.writeFileSync(stdoutFile, (r.stdout || '') + (r.stderr ? '\n--- stderr\n' + r.stderr : ''));
  fs.rmSync(state, { recursive: true, force: true });
  const m = JSON.parse(fs.readFileSync(mfile, 'utf8').trim().split('\n').pop());
  if (m.status !== 0) throw new Error(`${label} exited with ${m.status}; see ${stdoutFile}\n${(r.stderr || '').slice(-2000)}`);
  const line = (r.stdout || '').split('\n').map((l) => l.replace(/^BENCH /, '')).filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${label}: no result line; see ${stdoutFile}`);
  const result = JSON.parse(line);
  const log = await requestLog();
  return { label, proc: { ...m, cpu: m.user + m.sys }, result, log };
}

let stateSeq = 0;
function rwArgs(mode, script, extra = []) {
  stateSeq++;
  return [mode, '--log-level', 'warn', '--cpu-budget', '120', '--state', path.join(OUT, `state-${stateSeq}.db`),
    ...(o.libDir ? ['--lib-dir', o.libDir] : []),
    ...extra, path.join(HERE, 'workloads', script)];
}

const baselineArgs = (...a) => [path.join(HERE, 'baseline.js'), ...a];

function progress(msg) { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); }

// ---------------------------------------------------------------- workloads

const rows = [];       // table rows
const results = { latency_ms: o.latency, quick: o.quick, sizes: SIZES, loadavg_start: os.loadavg(), cpus: os.cpus().length, workloads: {} };

function row(w, client, v, note = '') {
  rows.push({ w, client, ...v, note });
}

// (a) list N runs with config and summary
async function workloadA() {
  const S = SIZES.a;
  const project = 'bench-a';
  const gen = { project, runs: S.runs, steps: 100, summary_keys: 10, config_keys: 10 };
  progress(`(a) generating ${S.runs} runs`);
  await fresh(gen);
  progress('(a) runwatch: api.runs() reading config and summary of every run');
  const rw = await runClient('a-runwatch', o.runwatch, rwArgs('once', 'list.lua'), { BENCH_PROJECT: project });
  if (rw.result.runs !== S.runs) throw new Error(`(a) runwatch saw ${rw.result.runs} runs`);
  progress(`(a) runwatch: ${rw.proc.wall.toFixed(1)} s, ${rw.log.requests} requests`);
  row('a', 'runwatch', { wall: rw.proc.wall, requests: rw.log.requests, bytes: rw.log.bytes, cpu: rw.proc.cpu, rss_kb: rw.proc.maxrss_kb });
  results.workloads.a = { gen, runwatch: rw };
  if (o.noBaseline) return { rw: rw.proc.wall, bl: NaN, rwReq: rw.log.requests };
  progress(`(a) baseline: the SDK's sequence on the first ${S.baselineRuns} runs (then extrapolated to ${S.runs})`);
  const bl = await runClient('a-baseline', 'node', baselineArgs('list', '--project', project, '--limit', String(S.baselineRuns)), {});
  if (bl.result.runs !== S.baselineRuns) throw new Error(`(a) baseline saw ${bl.result.runs} runs`);
  const f = S.runs / S.baselineRuns;
  // requests and bytes: per operation (the two Api() requests happen once, pages and Run queries scale)
  let req = 0, bytes = 0;
  for (const [op, v] of Object.entries(bl.log.byOp)) {
    const k = op === 'Runs' || op === 'Run' ? f : 1;
    req += v.n * k;
    bytes += v.bytes * k;
  }
  const blx = { wall: bl.proc.wall * f, requests: Math.round(req), bytes, cpu: bl.proc.cpu * f, rss_kb: bl.proc.maxrss_kb,
    measured: { runs: S.baselineRuns, wall: bl.proc.wall, requests: bl.log.requests, bytes: bl.log.bytes, cpu: bl.proc.cpu } };
  Object.assign(results.workloads.a, { baseline: bl, baseline_extrapolated: blx });
  row('a', 'baseline', { wall: blx.wall, requests: blx.requests, bytes: blx.bytes, cpu: blx.cpu, rss_kb: blx.rss_kb },
    f === 1 ? '' : `measured on ${S.baselineRuns} runs (${bl.proc.wall.toFixed(1)} s, ${bl.log.requests} req), x${f} (serial: linear); RSS as measured`);
  return { rw: rw.proc.wall, bl: blx.wall, rwReq: rw.log.requests };
}

// (b) one watch tick over N running runs with 10 new rows each
async function workloadB() {
  const S = SIZES.b;
  const project = 'bench-b';
  const gen = { project, runs: S.running, running: S.running, steps: 5 };
  progress(`(b) generating ${S.running} running runs`);
  await fresh(gen);
  progress('(b) runwatch: first tick, simulate 10 steps, measured tick');
  const rw = await runClient('b-runwatch', o.runwatch, rwArgs('run', 'tick.lua'), { BENCH_PROJECT: project, BENCH_STEPS: '10' }, { clearLog: false });
  if (rw.result.rows !== S.running * 10) throw new Error(`(b) runwatch delivered ${rw.result.rows} rows`);
  progress(`(b) runwatch: tick ${rw.result.phase.wall.toFixed(2)} s, ${rw.log.requests} requests`);
  const ph = (c) => ({ wall: c.result.phase.wall, requests: c.log.requests, bytes: c.log.bytes, cpu: c.result.phase.cpu, rss_kb: c.proc.maxrss_kb });
  row('b', 'runwatch', ph(rw), 'the tick only; RSS = process peak');
  results.workloads.b = { gen, runwatch: rw };
  if (o.noBaseline) return { rw: rw.result.phase.wall, bl: NaN, rwReq: rw.log.requests };
  await fresh(gen);
  progress('(b) baseline: first listing, simulate 10 steps, measured tick (Runs pages + one RunFullHistory per run)');
  const bl = await runClient('b-baseline', 'node', baselineArgs('tick', '--project', project, '--steps', '10'), {}, { clearLog: false });
  if (bl.result.rows !== S.running * 10) throw new Error(`(b) baseline found ${bl.result.rows} rows`);
  results.workloads.b.baseline = bl;
  row('b', 'baseline', ph(bl), 'the tick only; RSS = process peak');
  return { rw: rw.result.phase.wall, bl: bl.result.phase.wall, rwReq: rw.log.requests };
}

// (c) scan the full history of N runs of S steps
async function workloadC() {
  const S = SIZES.c;
  const project = 'bench-c';
  const gen = { project, runs: S.runs, steps: S.steps, config_keys: 5 };
  progress(`(c) generating ${S.runs} runs x ${S.steps} steps`);
  await fresh(gen);
  const out = {};
  for (const mode of ['seq', 'par']) {
    progress(`(c) runwatch ${mode === 'seq' ? 'sequential' : 'parallel: map(runs, scan, {limit = 8})'}`);
    const rw = await runClient(`c-runwatch-${mode}`, o.runwatch, rwArgs('once', 'scan.lua'),
      { BENCH_PROJECT: project, BENCH_MODE: mode, BENCH_LIMIT: '8' });
    if (rw.result.rows !== S.runs * S.steps) throw new Error(`(c) runwatch ${mode} read ${rw.result.rows} rows`);
    progress(`(c) runwatch ${mode}: ${rw.proc.wall.toFixed(1)} s, ${rw.log.requests} requests`);
    out[mode] = rw;
    row('c', `runwatch ${mode === 'seq' ? 'sequential' : 'map, 8 at once'}`, { wall: rw.proc.wall, requests: rw.log.requests, bytes: rw.log.bytes, cpu: rw.proc.cpu, rss_kb: rw.proc.maxrss_kb });
  }
  if (o.noBaseline) return { seq: out.seq.proc.wall, par: out.par.proc.wall, bl: NaN };
  progress('(c) baseline: scan_history per run, serially');
  const bl = await runClient('c-baseline', 'node', baselineArgs('scan', '--project', project, '--limit', String(S.baselineRuns)), {});
  if (bl.result.rows !== S.baselineRuns * S.steps) throw new Error(`(c) baseline read ${bl.result.rows} rows`);
  const f = S.runs / S.baselineRuns;
  row('c', 'baseline', { wall: bl.proc.wall * f, requests: Math.round(bl.log.requests * f), bytes: bl.log.bytes * f, cpu: bl.proc.cpu * f, rss_kb: bl.proc.maxrss_kb },
    f === 1 ? '' : `measured on ${S.baselineRuns} runs, x${f}`);
  results.workloads.c = { gen, runwatch_seq: out.seq, runwatch_par: out.par, baseline: bl, factor: f };
  return { seq: out.seq.proc.wall, par: out.par.proc.wall, bl: bl.proc.wall * f };
}

// (d) start up and run a trivial script
function median(a) { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; }

function repeatMeasure(label, cmd, args, n) {
  const mfile = path.join(OUT, `d-${label}.measure.json`);
  const state = fs.mkdtempSync(path.join(OUT, 'state-'));
  spawnSync(o.measure, ['-n', String(n), '-q', '-o', mfile, '--', cmd, ...args], { env: { ...process.env, XDG_STATE_HOME: state }, stdio: ['ignore', 'ignore', 'pipe'] });
  fs.rmSync(state, { recursive: true, force: true });
  const runs = fs.readFileSync(mfile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  return { n: runs.length, wall: median(runs.map((r) => r.wall)), wall_min: Math.min(...runs.map((r) => r.wall)),
    cpu: median(runs.map((r) => r.user + r.sys)), rss_kb: Math.max(...runs.map((r) => r.maxrss_kb)),
    ok: runs.every((r) => r.status === 0) };
}

// paired(n, a, b): n rounds, each running a then b once, so both see the same moment of a
// machine whose load moves; medians of each side
function paired(n, a, b) {
  const ra = [], rb = [];
  for (let i = 0; i < n; i++) { ra.push(repeatMeasure(a[0], a[1], a[2], 1)); rb.push(repeatMeasure(b[0], b[1], b[2], 1)); }
  const agg = (rs) => ({ n: rs.length, wall: median(rs.map((r) => r.wall)), wall_min: Math.min(...rs.map((r) => r.wall)),
    cpu: median(rs.map((r) => r.cpu)), rss_kb: Math.max(...rs.map((r) => r.rss_kb)), ok: rs.every((r) => r.ok) });
  return [agg(ra), agg(rb)];
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

async function workloadD() {
  const n = SIZES.d.repeat;
  progress(`(d) startup: runwatch once -e 'print(1)', ${n} times (median), paired with lua5.4 -e 'print(1)'`);
  const rwArgsD = ['once', ...(o.libDir ? ['--lib-dir', o.libDir] : []), '-e', 'print(1)'];
  const luabin = which('lua5.4');
  let rw, lua = null;
  if (luabin) [rw, lua] = paired(n, ['runwatch', o.runwatch, rwArgsD], ['lua', luabin, ['-e', 'print(1)']]);
  else rw = repeatMeasure('runwatch', o.runwatch, rwArgsD, n);
  if (lua) rw.lua = lua;
  const floor = repeatMeasure('true', '/bin/true', [], n);
  // the real interpreter, not a version manager's shell shim in front of it
  const pybin = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const py = repeatMeasure('python', pybin, ['-c', 'import json'], Math.min(n, 5));
  const pyreq = repeatMeasure('python-requests', pybin, ['-c', 'import requests'], Math.min(n, 5));
  results.workloads.d = { runwatch: rw, lua5_4: lua, bin_true: floor, python_json: py, python_requests: pyreq };
  row('d', 'runwatch', { wall: rw.wall, requests: 0, bytes: 0, cpu: rw.cpu, rss_kb: rw.rss_kb }, `median of ${n}; min ${(rw.wall_min * 1000).toFixed(1)} ms`);
  if (lua) row('d', "lua5.4 -e 'print(1)'", { wall: lua.wall, requests: 0, bytes: 0, cpu: lua.cpu, rss_kb: lua.rss_kb }, `median of ${n}, paired run by run with runwatch`);
  row('d', 'ref: /bin/true', { wall: floor.wall, requests: 0, bytes: 0, cpu: floor.cpu, rss_kb: floor.rss_kb }, 'process creation on this machine (the floor)');
  row('d', "ref: python3 -c 'import json'", { wall: py.wall, requests: 0, bytes: 0, cpu: py.cpu, rss_kb: py.rss_kb }, 'rough reference only, not the SDK');
  if (pyreq.ok) row('d', "ref: python3 -c 'import requests'", { wall: pyreq.wall, requests: 0, bytes: 0, cpu: pyreq.cpu, rss_kb: pyreq.rss_kb }, 'rough reference only, not the SDK');
  return rw;
}

// (e) a watch over N running runs: memory after a tick
async function workloadE() {
  const S = SIZES.e;
  const project = 'bench-e';
  const gen = { project, runs: S.running, running: S.running, steps: 5 };
  progress(`(e) generating ${S.running} running runs`);
  await fresh(gen);
  progress('(e) runwatch: first tick, simulate 10 steps, second tick; RSS after it');
  const rw = await runClient('e-runwatch', o.runwatch, rwArgs('run', 'tick.lua'), { BENCH_PROJECT: project, BENCH_STEPS: '10' }, { clearLog: false });
  if (rw.result.rows !== S.running * 10) throw new Error(`(e) runwatch delivered ${rw.result.rows} rows`);
  results.workloads.e = { gen, runwatch: rw };
  row('e', 'runwatch', { wall: rw.result.phase.wall, requests: rw.log.requests, bytes: rw.log.bytes, cpu: rw.result.phase.cpu, rss_kb: rw.result.phase.rss_kb },
    `${S.running} watched runs; RSS = VmRSS after the tick (peak ${(rw.proc.maxrss_kb / 1024).toFixed(1)} MB, Lua heap ${(rw.result.phase.lua_kb / 1024).toFixed(1)} MB)`);
  return rw;
}

// ---------------------------------------------------------------- the CPU profile (--profile)
// callgrind (perf cannot count instructions on this kind of VM) over workloads (a) and (b) at
// 1,000 runs with no latency. Only the measured phase is profiled: counters are zeroed when the
// workload calls core.monotonic() (bench.start) and dumped when it calls core.stats()
// (bench.stop). Categories are inclusive instruction counts of the C entry points the Lua
// library calls; the collector's share is the difference with a run where the script stopped
// the collector (BENCH_GC=stop); the rest is the Lua VM running the library's Lua code.

const CATEGORIES = [
  ['JSON decode (runwatch.json: answers, config/summary strings, history rows)', ['json_decode']],
  ['JSON encode (runwatch.json: request bodies, state values)', ['json_encode']],
  ['HTTP: libcurl + gunzip (zlib) + request setup', ['curl_multi_socket_action', 'http_request']],
  ['SQLite (state store)', ['db_exec', 'db_prepare', 'db_run', 'db_first', 'db_rows', 'rows_iter', 'st_step', 'st_bind', 'st_reset', 'sqlite_open', 'db_close']],
];

function callgrindInclusive(file) {
  const r = spawnSync('callgrind_annotate', ['--auto=no', '--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const inc = {};
  let total = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+)\s+\[/.exec(line);
    if (m) {
      const fn = m[2].replace(/^.*:/, '').replace(/'\d+$/, '');
      if (!(fn in inc)) inc[fn] = Number(m[1].replace(/,/g, ''));
    }
    const t = /^\s*([\d,]+)\s+\(100.0%\)\s+PROGRAM TOTALS/.exec(line);
    if (t) total = Number(t[1].replace(/,/g, ''));
  }
  return { total, inc };
}

function categorize(cg) {
  const out = {};
  for (const [name, fns] of CATEGORIES) out[name] = fns.reduce((s, f) => s + (cg.inc[f] || 0), 0);
  return out;
}

async function profile() {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('--profile needs valgrind');
  const vg = (label, args, env, phase = true) => {
    progress(`profile: ${label} under callgrind`);
    const file = path.join(OUT, `${label}.callgrind`);
    const opts = phase ? ['--zero-before=core_monotonic', '--dump-before=core_stats'] : [];
    const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${file}`, ...opts, o.runwatch, ...args], {
      env: { ...process.env, RW_BENCH_DIR: HERE, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${label}: exit ${r.status}\n${r.stderr.slice(-2000)}`);
    // with dumps, the phase is the first part (FILE.1); without, the whole process (FILE)
    return callgrindInclusive(phase ? `${file}.1` : file);
  };
  const plain = (label, args, env) => {
    const r = spawnSync(o.runwatch, args, { env: { ...process.env, RW_BENCH_DIR: HERE, ...env }, encoding: 'utf8' });
    fs.writeFileSync(path.join(OUT, `${label}.stdout`), r.stdout + r.stderr);
    return JSON.parse(r.stdout.split('\n').filter((l) => l.startsWith('BENCH ')).pop().slice(6));
  };
  const gen = async (g) => { await admin('POST', 'reset', {}); await admin('POST', 'latency', { ms: 0 }); await admin('POST', 'generate', { entity: 'rw-team', seed: 7, ...g }); };
  const genA = { project: 'bench-a', runs: 1000, steps: 100, summary_keys: 10, config_keys: 10 };
  const genB = { project: 'bench-b', runs: 1000, running: 1000, steps: 5 };

  const start = vg('startup', ['once', '-e', 'print(1)'], {}, false);
  await gen(genA);
  const a = vg('a', rwArgs('once', 'list.lua'), { BENCH_PROJECT: 'bench-a' });
  const aNoGc = vg('a-nogc', rwArgs('once', 'list.lua'), { BENCH_PROJECT: 'bench-a', BENCH_GC: 'stop' });
  const aPlain = plain('a-plain', rwArgs('once', 'list.lua'), { BENCH_PROJECT: 'bench-a' });
  await gen(genB);
  const b = vg('b', rwArgs('run', 'tick.lua'), { BENCH_PROJECT: 'bench-b' });
  await gen(genB);
  const bNoGc = vg('b-nogc', rwArgs('run', 'tick.lua'), { BENCH_PROJECT: 'bench-b', BENCH_GC: 'stop' });
  await gen(genB);
  const bPlain = plain('b-plain', rwArgs('run', 'tick.lua'), { BENCH_PROJECT: 'bench-b' });

  const report = (title, cg, nogc, cpuSecs) => {
    const total = cg.total;
    const lines = [`${title}: ${(total / 1e6).toFixed(0)} M instructions (callgrind, user space); the same phase without valgrind: ${(cpuSecs * 1000).toFixed(0)} ms CPU (user+sys, no latency).`, '',
      '| where the instructions go | M instructions | share | ≈ ms CPU |', '|---|---|---|---|'];
    let rest = total;
    const row = (name, ir) => lines.push(`| ${name} | ${(ir / 1e6).toFixed(1)} | ${(100 * ir / total).toFixed(1)}% | ${(cpuSecs * 1000 * ir / total).toFixed(1)} |`);
    for (const [name, ir] of Object.entries(categorize(cg))) { row(name, ir); rest -= ir; }
    const gcIr = Math.max(0, total - nogc.total);
    row('Lua garbage collector (difference with the collector stopped)', gcIr);
    rest -= gcIr;
    row('Lua VM: the library\'s Lua code (paging, run objects, config unwrapping, watch logic, handlers)', rest);
    lines.push('', `of which the allocator (host_alloc: malloc/realloc/free, from every category): ${(((cg.inc.host_alloc || 0)) / 1e6).toFixed(1)} M instructions`);
    return lines.join('\n');
  };
  const text = [
    `Startup (runwatch once -e 'print(1)'): ${(start.total / 1e6).toFixed(1)} M instructions, of which the dynamic loader (_dl_start: loading and relocating libcurl's ${''}dependencies) ${((start.inc._dl_start || 0) / 1e6).toFixed(1)} M.`, '',
    report('(a) list 1,000 runs, reading config and summary of each', a, aNoGc, aPlain.phase.cpu), '',
    report(`(b) one watch tick over 1,000 running runs with 10 new rows each (${bPlain.tick_requests} requests)`, b, bNoGc, bPlain.phase.cpu),
  ].join('\n');
  fs.writeFileSync(path.join(OUT, 'profile.md'), text + '\n');
  process.stdout.write('\n' + text + '\n');
}

// ---------------------------------------------------------------- the table

function fmt(v, d) { return v === undefined || v === null ? '-' : Number(v).toFixed(d); }

function printTable(verdicts) {
  const head = ['workload', 'client', 'wall s', 'requests', 'MB received', 'CPU s', 'peak RSS MB', 'note'];
  const names = { a: `(a) list ${SIZES.a.runs} runs + config/summary`, b: `(b) watch tick, ${SIZES.b.running} runs x 10 rows`,
    c: `(c) scan ${SIZES.c.runs} runs x ${SIZES.c.steps} steps`, d: '(d) startup, trivial script', e: `(e) watch ${SIZES.e.running} running runs` };
  const body = rows.map((r) => [names[r.w], r.client, fmt(r.wall, r.wall < 1 ? 3 : 1), String(r.requests),
    fmt(r.bytes / 1e6, 2), fmt(r.cpu, r.cpu < 1 ? 3 : 2), fmt(r.rss_kb / 1024, 1), r.note]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  const out = [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)];
  out.push('');
  out.push('| workload | speedup (baseline wall / runwatch wall) | target | met? |');
  out.push('|---|---|---|---|');
  for (const v of verdicts) {
    if (/NaN/.test(v.ratio)) out.push(`| ${v.w} | (no baseline run) | ${v.target} | - |`);
    else out.push(`| ${v.w} | ${v.ratio} | ${v.target} | ${v.met ? 'yes' : 'NO'}${v.why ? ' — ' + v.why : ''} |`);
  }
  return out.join('\n');
}

async function main() {
  if (o.profile) return profile();
  const t0 = Date.now();
  progress(`${o.libDir ? `Lua library from ${o.libDir}; ` : ''}latency ${o.latency} ms per request; ${o.quick ? 'quick sizes' : 'full sizes'}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs; output in ${OUT}`);
  const verdicts = [];
  const x = (a, b) => `${(a / b).toFixed(1)}x`;
  if (only.has('a')) {
    const a = await workloadA();
    verdicts.push({ w: '(a)', ratio: x(a.bl, a.rw), target: '>= 5x', met: a.bl / a.rw >= 5 });
  }
  if (only.has('b')) {
    const b = await workloadB();
    verdicts.push({ w: '(b)', ratio: `${x(b.bl, b.rw)}; ${b.rwReq} requests`, target: '>= 30x and < 30 requests', met: b.bl / b.rw >= 30 && b.rwReq < 30 });
  }
  if (only.has('c')) {
    const c = await workloadC();
    verdicts.push({ w: '(c) sequential', ratio: x(c.bl, c.seq), target: '>= 5x', met: c.bl / c.seq >= 5 });
    verdicts.push({ w: '(c) map, 8 at once', ratio: x(c.bl, c.par), target: '>= 5x', met: c.bl / c.par >= 5 });
  }
  if (only.has('d')) {
    const d = await workloadD();
    if (d.lua) {
      const r = d.wall / d.lua.wall;
      verdicts.push({ w: '(d)', ratio: `${r.toFixed(2)}x lua5.4 (${(d.wall * 1000).toFixed(1)} vs ${(d.lua.wall * 1000).toFixed(1)} ms), ${(d.rss_kb / 1024).toFixed(1)} MB`,
        target: '<= 2x lua5.4 and < 5 MB RSS', met: r <= 2 && d.rss_kb < 5 * 1024 });
    } else {
      verdicts.push({ w: '(d)', ratio: `${(d.wall * 1000).toFixed(1)} ms, ${(d.rss_kb / 1024).toFixed(1)} MB (no lua5.4 to compare with)`, target: '< 20 ms and < 5 MB RSS', met: d.wall < 0.020 && d.rss_kb < 5 * 1024 });
    }
  }
  if (only.has('e')) {
    const e = await workloadE();
    const rss = e.result.phase.rss_kb / 1024;
    verdicts.push({ w: '(e)', ratio: `${rss.toFixed(1)} MB after a tick (peak ${(e.proc.maxrss_kb / 1024).toFixed(1)} MB)`, target: `${SIZES.e.running} watched runs < 40 MB RSS`, met: rss < 40 });
  }
  results.loadavg_end = os.loadavg();
  results.total_secs = (Date.now() - t0) / 1000;
  results.rows = rows;
  results.verdicts = verdicts;
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 1));
  const table = printTable(verdicts);
  fs.writeFileSync(path.join(OUT, 'table.md'), table + '\n');
  process.stdout.write(`\nrunwatch bench: ${o.latency} ms latency per request, ${o.quick ? 'quick' : 'full'} sizes, ` +
    `${os.cpus().length} CPUs, load average ${results.loadavg_start.map((v) => v.toFixed(2)).join(' ')} -> ${results.loadavg_end.map((v) => v.toFixed(2)).join(' ')}, ` +
    `${results.total_secs.toFixed(0)} s\n\n${table}\n\nEvery number: ${path.join(OUT, 'results.json')}\n`);
  // --check: for a release, not for CI (the machine's load moves the absolute numbers)
  if (o.check && verdicts.some((v) => !v.met)) {
    process.stdout.write(`check: ${verdicts.filter((v) => !v.met).map((v) => v.w).join(', ')} below target\n`);
    process.exit(3);
  }
}

main().catch((e) => { console.error(`measure.js: ${e.stack || e}`); process.exit(1); });
