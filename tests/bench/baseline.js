#!/usr/bin/env node
// The bench's baseline: the request sequence of the W&B Python SDK (`wandb.Api`, classic
// transport of v0.26.1, see shared/reference/wandb-public-api.md), sent the way the SDK sends
// it: one request at a time on one keep-alive connection (requests.Session), basic auth
// api:<key>, the SDK's headers, bodies as Python's json.dumps writes them, the exact printed
// query texts of Appendix A, gzip accepted. It does the client-side work the SDK does with the
// answers (json.loads of config/summary/history rows, config unwrapping, keeping the Run
// objects of a listing), in Node, so its CPU time and memory are a lower bound for Python's.
//
//   node baseline.js WORKLOAD [options]      (WANDB_BASE_URL, WANDB_API_KEY, WANDB_ENTITY)
//
//   list   --project P [--limit N]    api.runs(P) lazily, reading run.config and run.summary of
//                                     each run (the N+1: one Run query per run); --limit stops
//                                     after N runs (the bench extrapolates; the sequence is serial)
//   tick   --project P                a poller on wandb.Api: set cursors from a first listing,
//                                     POST /_admin/simulate {steps}, clear the server's request
//                                     log, then one measured tick: list the running runs (Runs
//                                     pages) and one RunFullHistory per run, keeping new rows
//   scan   --project P [--limit N]    for run in api.runs(P): for row in run.scan_history():
//                                     RunHistoryKeys, then HistoryPage pages of 1,000 steps
//
// Prints one JSON line: {client, workload, runs, rows, phase: {wall, cpu, hwm_kb, rss_kb}}, where
// phase is the measured part (the whole workload for list and scan, the tick for tick); cpu is
// user+sys of this process (process.cpuUsage), hwm_kb/rss_kb are VmHWM/VmRSS from /proc/self/status.
'use strict';

const http = require('http');
const https = require('https');
const zlib = require('zlib');
const fs = require('fs');

// ---------------------------------------------------------------- the SDK's documents (Appendix A)

const LIGHTWEIGHT_RUN_FRAGMENT = `fragment LightweightRunFragment on Run {
  id
  tags
  name
  displayName
  sweepName
  state
  group
  jobType
  commit
  readOnly
  createdAt
  heartbeatAt
  description
  notes
  historyLineCount
  user {
    name
    username
  }
}
`;

const RUN_FRAGMENT = `fragment RunFragment on Run {
  id
  tags
  name
  displayName
  sweepName
  state
  config
  group
  jobType
  commit
  readOnly
  createdAt
  heartbeatAt
  description
  notes
  systemMetrics
  summaryMetrics
  historyLineCount
  user {
    name
    username
  }
  historyKeys
}
`;

const Q = {
  VIEWER_CHECK: `{
  viewer {
    id
  }
}
`,
  GET_VIEWER: `query GetViewer {
  viewer {
    ...UserFragment
  }
}

fragment ApiKeyFragment on ApiKey {
  id
  name
  description
}

fragment UserFragment on User {
  id
  name
  username
  email
  admin
  flags
  entity
  deletedAt
  apiKeys {
    edges {
      node {
        ...ApiKeyFragment
      }
    }
  }
  teams {
    edges {
      node {
        name
      }
    }
  }
}
`,
  RUNS_LAZY: `query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String, $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    internalId
    runCount(filters: $filters)
    readOnly
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges {
        node {
          projectId
          ...LightweightRunFragment
        }
        cursor
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
}

${LIGHTWEIGHT_RUN_FRAGMENT}`,
  RUN_FULL: `query Run($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      projectId
      ...RunFragment
    }
  }
}

${RUN_FRAGMENT}`,
  FULL_HISTORY: `query RunFullHistory($project: String!, $entity: String!, $name: String!, $samples: Int) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      history(samples: $samples)
    }
  }
}
`,
  HISTORY_KEYS: `query RunHistoryKeys($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      historyKeys
    }
  }
}
`,
  HISTORY_PAGE: `query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!, $maxStep: Int64!, $pageSize: Int!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) {
      history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize)
    }
  }
}
`,
};

// ---------------------------------------------------------------- Python's json.dumps, default options

function pyString(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

// json.dumps(v): separators ", " and ": ", ensure_ascii, keys in insertion order
function pyDumps(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return pyString(v);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return '[' + v.map(pyDumps).join(', ') + ']';
  return '{' + Object.keys(v).map((k) => pyString(k) + ': ' + pyDumps(v[k])).join(', ') + '}';
}

// json.loads, which (unlike JSON.parse) accepts NaN and +-Infinity
function pyLoads(text) {
  try { return JSON.parse(text); } catch (e) {
    return JSON.parse(text.replace(/("(?:[^"\\]|\\.)*")|-?\bInfinity\b|\bNaN\b/g, (m, str) => str || 'null'));
  }
}

// ---------------------------------------------------------------- transport: one requests.Session

const BASE = (process.env.WANDB_BASE_URL || 'https://api.wandb.ai').replace(/\/+$/, '');
const KEY = process.env.WANDB_API_KEY || '';
const ENTITY = process.env.WANDB_ENTITY || '';
const url = new URL(BASE + '/graphql');
const lib = url.protocol === 'https:' ? https : http;
const agent = new lib.Agent({ keepAlive: true, maxSockets: 1 });
const AUTH = 'Basic ' + Buffer.from('api:' + KEY).toString('base64');
const stats = { requests: 0, bytes: 0 };

function post(pathname, bodyText, headers) {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(bodyText, 'utf8');
    const req = lib.request({
      protocol: url.protocol, hostname: url.hostname, port: url.port, path: pathname, method: 'POST', agent,
      headers: { ...headers, 'Content-Length': body.length },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let buf = Buffer.concat(chunks);
        stats.bytes += buf.length;
        const enc = String(res.headers['content-encoding'] || '');
        if (enc === 'gzip') buf = zlib.gunzipSync(buf);
        else if (enc === 'deflate') buf = zlib.inflateSync(buf);
        resolve({ status: res.statusCode, text: buf.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// GraphQLSession.execute: {"query": print_ast(doc), "variables": vars or {}}
async function gql(query, variables) {
  const res = await post(url.pathname, pyDumps({ query, variables: variables || {} }), {
    'User-Agent': 'W&B Public Client 0.26.1',
    'Accept-Encoding': 'gzip, deflate',
    Accept: '*/*',
    Connection: 'keep-alive',
    'Use-Admin-Privileges': 'true',
    'Content-Type': 'application/json',
    Authorization: AUTH,
  });
  stats.requests++;
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  const doc = pyLoads(res.text);
  if (doc.errors && doc.errors.length) throw new Error(String(doc.errors[0].message || doc.errors[0]));
  return doc.data;
}

async function admin(method, what, body) {
  return new Promise((resolve, reject) => {
    const text = body ? JSON.stringify(body) : '';
    const req = http.request({ hostname: url.hostname, port: url.port, path: '/_admin/' + what, method, agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) :
        reject(new Error(`admin ${what}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(text);
  });
}

// ---------------------------------------------------------------- the SDK's objects

// wandb.Api(): validate the key (the anonymous viewer query), then GetViewer (error reporting on)
async function newApi() {
  const v = await gql(Q.VIEWER_CHECK, {});
  if (!v.viewer) throw new Error('invalid API key');
  await gql(Q.GET_VIEWER, {});
}

// Run._load_from_attrs: json.loads config/summary/system metrics, unwrap config values
function loadFromAttrs(run) {
  const a = run.attrs;
  if (typeof a.config === 'string') {
    const raw = pyLoads(a.config);
    const config = {};
    const rawconfig = {};
    for (const [k, v] of Object.entries(raw)) {
      const val = v && typeof v === 'object' && !Array.isArray(v) && 'value' in v ? v.value : v;
      if (k === '_wandb' || k === 'wandb_version') rawconfig[k] = val;
      else { config[k] = val; rawconfig[k] = val; }
    }
    run.config = config;
    run.rawconfig = rawconfig;
  }
  if (typeof a.summaryMetrics === 'string') run.summary = pyLoads(a.summaryMetrics);
  if (typeof a.systemMetrics === 'string') run.systemMetrics = pyLoads(a.systemMetrics);
}

// api.runs(path, filters, order="+created_at", per_page=50, lazy=True): a Paginator that fetches
// the next page when iteration passes the end of the loaded objects; cursor = last edge's cursor.
async function* runsIter(project, filters, perPage = 50) {
  let cursor = null;
  let more = true;
  while (more) {
    const data = await gql(Q.RUNS_LAZY, { project, entity: ENTITY, order: '+created_at',
      filters: pyDumps(filters || {}), perPage, cursor });
    const p = data.project;
    if (!p) throw new Error(`Could not find project ${project}`);
    const edges = p.runs.edges;
    for (const e of edges) yield { attrs: e.node, id: e.node.name };
    more = p.runs.pageInfo.hasNextPage && edges.length > 0;
    if (edges.length) cursor = edges[edges.length - 1].cursor;
  }
}

// run.config / run.summary on a lazily listed run: load_full_data() -> one Run query
async function loadFull(project, run) {
  const data = await gql(Q.RUN_FULL, { entity: ENTITY, project, name: run.id });
  const r = data.project && data.project.run;
  if (!r) throw new Error(`Could not find run ${run.id}`);
  Object.assign(run.attrs, r);
  loadFromAttrs(run);
}

// run.history(samples=500) with keys=None: RunFullHistory, rows are JSON strings
async function history(project, run, samples = 500) {
  const data = await gql(Q.FULL_HISTORY, { entity: ENTITY, project, name: run.id, samples });
  const r = data.project && data.project.run;
  return r ? r.history.map(pyLoads) : [];
}

// run.scan_history(page_size=1000): lastHistoryStep, then HistoryPage by step ranges
async function* scanHistory(project, run, pageSize = 1000) {
  const hk = await gql(Q.HISTORY_KEYS, { entity: ENTITY, project, name: run.id });
  const keys = hk.project && hk.project.run && hk.project.run.historyKeys;
  const last = keys && typeof keys.lastStep === 'number' ? keys.lastStep : -1;
  const stop = last + 1;
  for (let off = 0; off < stop; off += pageSize) {
    const data = await gql(Q.HISTORY_PAGE, { entity: ENTITY, project, run: run.id, minStep: off,
      maxStep: Math.min(off + pageSize, stop), pageSize });
    const r = data.project && data.project.run;
    for (const row of (r ? r.history : [])) yield pyLoads(row);
  }
}

// ---------------------------------------------------------------- measuring

function procStatus() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const get = (k) => Number((new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(s) || [])[1] || 0);
  return { hwm_kb: get('VmHWM'), rss_kb: get('VmRSS') };
}

function phaseStart() {
  return { t: process.hrtime.bigint(), cpu: process.cpuUsage() };
}

function phaseEnd(p0) {
  const cpu = process.cpuUsage(p0.cpu);
  return { wall: Number(process.hrtime.bigint() - p0.t) / 1e9, cpu: (cpu.user + cpu.system) / 1e6, ...procStatus() };
}

// ---------------------------------------------------------------- workloads

async function list(o) {
  const p0 = phaseStart();
  await newApi();
  const objects = [];
  let n = 0;
  let checksum = 0;
  for await (const run of runsIter(o.project)) {
    objects.push(run);                   // Runs.objects keeps every Run
    await loadFull(o.project, run);      // run.config -> load_full_data()
    checksum += Object.keys(run.config).length + Object.keys(run.summary).length;
    if (++n >= o.limit) break;
  }
  return { runs: n, keys: checksum, phase: phaseEnd(p0) };
}

async function tick(o) {
  await newApi();
  // the poller's first tick: cursors at each running run's current length
  const cursors = new Map();
  for await (const run of runsIter(o.project, { state: 'running' })) cursors.set(run.id, run.attrs.historyLineCount || 0);
  await admin('POST', 'simulate', { steps: o.steps });
  await admin('DELETE', 'requests');
  const p0 = phaseStart();
  let runs = 0;
  let rows = 0;
  for await (const run of runsIter(o.project, { state: 'running' })) {
    runs++;
    const from = cursors.has(run.id) ? cursors.get(run.id) : 0;
    let next = from;
    for (const row of await history(o.project, run)) {
      if (typeof row._step === 'number' && row._step >= from) { rows++; next = Math.max(next, row._step + 1); }
    }
    cursors.set(run.id, next);
  }
  return { runs, rows, phase: phaseEnd(p0) };
}

async function scan(o) {
  const p0 = phaseStart();
  await newApi();
  let runs = 0;
  let rows = 0;
  let sum = 0;
  for await (const run of runsIter(o.project)) {
    for await (const row of scanHistory(o.project, run)) {
      rows++;
      if (typeof row.loss === 'number') sum += row.loss;
    }
    if (++runs >= o.limit) break;
  }
  return { runs, rows, sum, phase: phaseEnd(p0) };
}

async function main() {
  const argv = process.argv.slice(2);
  const workload = argv.shift();
  const o = { project: 'bench', limit: Infinity, steps: 10 };
  while (argv.length) {
    const a = argv.shift();
    if (a === '--project') o.project = argv.shift();
    else if (a === '--limit') o.limit = Number(argv.shift());
    else if (a === '--steps') o.steps = Number(argv.shift());
    else throw new Error(`unknown option ${a}`);
  }
  const fn = { list, tick, scan }[workload];
  if (!fn) throw new Error('usage: baseline.js list|tick|scan [--project P] [--limit N] [--steps S]');
  const r = await fn(o);
  process.stdout.write(JSON.stringify({ client: 'baseline', workload, ...r, client_requests: stats.requests,
    client_bytes: stats.bytes }) + '\n');
  agent.destroy();
}

main().catch((e) => { process.stderr.write(`baseline: ${e.stack || e}\n`); process.exit(1); });
