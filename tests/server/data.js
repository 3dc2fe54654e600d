// The test server's data model: fixtures loading, run histories, the synthetic run generator and live simulation.
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const tjson = require('./tjson');
const { Artifacts } = require('./artifacts');

const DEFAULT_KEY = 'rwtest_0123456789abcdef0123456789abcdef01234567';
const BASE_TIME = Date.parse('2024-03-01T00:00:00Z');

function b64(s) { return Buffer.from(s, 'utf8').toString('base64'); }

function isoNow(ms = Date.now()) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'); }

// Deterministic hash of integers/strings -> float in [0, 1).
function hash01(...parts) {
  let h = 2166136261;
  for (const p of parts) {
    const s = String(p);
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    h ^= 0x9e; h = Math.imul(h, 16777619);
  }
  h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d); h ^= h >>> 12; h = Math.imul(h, 0x297a2d39); h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}

// Small seeded PRNG (mulberry32) for sequential generation.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function round(x, digits = 6) { const f = 10 ** digits; return Math.round(x * f) / f; }

// A plausible value for metric `key` at `step` (loss decays, acc rises, lr follows a cosine).
function metricValue(key, step, noise) {
  const k = key.toLowerCase();
  if (k.includes('loss')) return round(2.5 * Math.exp(-step / 300) + 0.05 + 0.05 * noise);
  if (k.includes('acc')) return round(Math.min(1, 0.1 + 0.85 * (1 - Math.exp(-step / 400)) + 0.02 * (noise - 0.5)));
  if (k === 'lr' || k.includes('learning_rate')) return round(0.001 * (0.5 + 0.5 * Math.cos(step / 1000)), 9);
  if (k.includes('throughput') || k.includes('samples_per_sec')) return round(900 + 100 * noise, 2);
  return round(noise * 10);
}

// ---------------------------------------------------------------- history

// Rows of a run's history (or system events). Rows are stored as JSON texts; a generated run's first
// rows come from a generator (computed from (run, step) on demand, never stored).
class History {
  constructor(gen = null, { steps = true } = {}) {
    this.gen = gen; // { seed, steps, keys, t0 } or null
    this.steps = steps; // false for system events: rows are numbered by position, no _step is added
    this.rows = []; // { step, text } appended after the generated ones
    this.stats = new Map(); // key -> Map(type -> count), for historyKeys
    if (gen) {
      const n = gen.steps;
      for (const k of ['_step', '_runtime', '_timestamp', ...gen.keys]) this.stats.set(k, new Map([['number', n]]));
    }
  }

  get length() { return (this.gen ? this.gen.steps : 0) + this.rows.length; }

  genRow(i) {
    const g = this.gen;
    const row = { _step: i, _runtime: round(i * 1.5 + hash01(g.seed, i, 'rt'), 3), _timestamp: round(g.t0 / 1000 + i * 1.5, 3) };
    for (const k of g.keys) row[k] = metricValue(k, i, hash01(g.seed, i, k));
    return row;
  }

  // { step, text, obj? } of row i
  row(i) {
    const nGen = this.gen ? this.gen.steps : 0;
    if (i < nGen) {
      const obj = this.genRow(i);
      return { step: i, text: tjson.stringify(obj), obj };
    }
    return this.rows[i - nGen];
  }

  stepAt(i) { const nGen = this.gen ? this.gen.steps : 0; return i < nGen ? i : this.rows[i - nGen].step; }

  // first index whose step >= step
  lowerBound(step) {
    let lo = 0, hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.stepAt(mid) < step) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  lastRow() { return this.length ? this.row(this.length - 1) : null; }

  lastStep() { return this.length ? this.stepAt(this.length - 1) : -1; }

  // Append a row given as an object or a JSON text. A row without _step gets the next step.
  append(row) {
    let text, obj;
    if (typeof row === 'string') {
      text = row;
      obj = tjson.parse(text);
    } else {
      obj = row;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('a history row must be a JSON object');
    let step = obj._step;
    if (!this.steps) step = this.length;
    else if (typeof step !== 'number') {
      step = this.lastStep() + 1;
      obj = { _step: step, ...obj };
      if (text !== undefined) text = text.replace(/^\s*\{\s*(\}?)/, (m, close) => `{"_step":${step}${close ? '}' : ','}`);
    }
    if (text === undefined) text = tjson.stringify(obj);
    for (const [k, v] of Object.entries(obj)) {
      const t = typeName(v);
      const m = this.stats.get(k) || new Map();
      m.set(t, (m.get(t) || 0) + 1);
      this.stats.set(k, m);
    }
    this.rows.push({ step, text });
  }

  // { lastStep, keys: { k: { typeCounts: [{type, count}] } } }
  keysInfo() {
    const keys = {};
    for (const [k, m] of this.stats) keys[k] = { typeCounts: [...m].map(([type, count]) => ({ type, count })) };
    return { lastStep: this.lastStep(), keys };
  }
}

function typeName(v) {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return v._type ? v._type : 'map';
  return typeof v; // number | string | boolean
}

// Members [key, value, raw] of a row (generated rows are built from their object; stored rows parse and cache).
function rowMembers(r) {
  if (r.obj) return Object.entries(r.obj).map(([k, v]) => [k, v, tjson.stringify(v)]);
  if (r.members) return r.members;
  let m;
  try { m = tjson.members(r.text); } catch (e) { m = []; }
  Object.defineProperty(r, 'members', { value: m, enumerable: false, writable: true });
  return m;
}

// ---------------------------------------------------------------- store

class Store {
  constructor() { this.clear(); }

  clear() {
    this.keys = new Set();
    this.viewer = defaultViewer();
    this.projects = new Map(); // "entity/name" -> project
    this.runsById = new Map(); // storage id -> run
    this.alerts = [];
    this.cursorMode = 'keyset'; // or 'offset' (admin POST cursors): how runs cursors page
    this.seq = 0;
    this.projectSeq = 0;
    this.fileSeq = 0;
    this.artifacts = new Artifacts(this); // artifacts.js
  }

  // ---- fixtures
  load(fx, { replace = false } = {}) {
    if (replace) this.clear();
    if (Array.isArray(fx.keys)) for (const k of fx.keys) this.keys.add(String(k));
    if (fx.viewer) this.viewer = { ...defaultViewer(), ...fx.viewer };
    for (const p of fx.projects || []) {
      const old = this.projects.get(`${p.entity}/${p.name}`);
      if (old) this.dropProject(old);
      const proj = this.addProject(p.entity || this.viewer.entity, p.name, p);
      for (const s of p.sweeps || []) proj.sweeps.push(makeSweep(s, proj));
      for (const r of p.runs || []) this.addRun(proj, r);
    }
    if (fx.artifacts) this.artifacts.load(fx.artifacts);
  }

  dropProject(p) {
    for (const r of p.runs) this.runsById.delete(r.id);
    this.projects.delete(`${p.entity}/${p.name}`);
  }

  project(entity, name) { return this.projects.get(`${entity}/${name}`) || null; }

  addProject(entity, name, p = {}) {
    const n = ++this.projectSeq;
    const proj = {
      n,
      id: p.id || b64(`Project:v1:${name}:${entity}`),
      internalId: p.internalId || b64(`Project:${n}`),
      entity, name,
      createdAt: p.createdAt || isoNow(BASE_TIME - 86400000 * 30 + n * 3600000),
      runs: [],
      byName: new Map(),
      sweeps: [],
      version: 0,
      cache: new Map(),
    };
    this.projects.set(`${entity}/${name}`, proj);
    return proj;
  }

  ensureProject(entity, name) { return this.project(entity, name) || this.addProject(entity, name); }

  touch(proj) { proj.version++; proj.cache.clear(); }

  addRun(proj, r) {
    const seq = ++this.seq;
    if (!r.name) throw new Error('a run needs a name (its 8-character run id)');
    if (proj.byName.has(r.name)) throw new Error(`duplicate run ${proj.entity}/${proj.name}/${r.name}`);
    const created = r.createdAt || isoNow(BASE_TIME + seq * 60000);
    const run = {
      seq,
      id: r.id || b64(`Run:${seq}`),
      name: r.name,
      displayName: r.displayName !== undefined ? r.displayName : r.name,
      state: r.state || 'finished',
      config: docText(r.config, '{}'),
      summaryMetrics: docText(r.summaryMetrics, '{}'),
      systemMetrics: r.systemMetrics === undefined || r.systemMetrics === null ? null : docText(r.systemMetrics, '{}'),
      tags: Array.isArray(r.tags) ? r.tags.map(String) : [],
      notes: r.notes === undefined ? null : r.notes,
      description: r.description === undefined ? null : r.description,
      group: r.group === undefined ? null : r.group,
      jobType: r.jobType === undefined ? null : r.jobType,
      sweepName: r.sweepName === undefined ? null : r.sweepName,
      commit: r.commit === undefined ? null : r.commit,
      host: r.host === undefined ? null : r.host,
      runtime: typeof r.runtime === 'number' ? r.runtime : null,
      createdAt: created,
      heartbeatAt: r.heartbeatAt === undefined ? created : r.heartbeatAt,
      updatedAt: r.updatedAt || r.heartbeatAt || created,
      user: r.user || { name: this.viewer.name, username: this.viewer.username },
      history: new History(r._gen || null),
      events: new History(null, { steps: false }),
      files: [],
      project: proj,
      stalled: false,
      heartbeats: true,
      nanNext: false,
    };
    for (const row of r.history || []) run.history.append(row);
    for (const row of r.events || []) run.events.append(row);
    for (const f of r.files || []) this.putFile(run, f);
    if (!run.commit) run.commit = commitFromMetadata(run);
    proj.runs.push(run);
    proj.byName.set(run.name, run);
    this.runsById.set(run.id, run);
    this.touch(proj);
    return run;
  }

  deleteRun(run) {
    const proj = run.project;
    proj.runs = proj.runs.filter((r) => r !== run);
    proj.byName.delete(run.name);
    this.runsById.delete(run.id);
    this.touch(proj);
  }

  putFile(run, f) {
    let data;
    if (f.contentBase64 !== undefined) data = Buffer.from(f.contentBase64, 'base64');
    else if (typeof f.content === 'string') data = Buffer.from(f.content, 'utf8');
    else if (f.content !== undefined) data = Buffer.from(JSON.stringify(f.content, null, 2), 'utf8');
    else data = Buffer.alloc(0);
    const n = ++this.fileSeq;
    const file = {
      n,
      id: b64(`File:${n}`),
      name: f.name,
      data,
      mimetype: f.mimetype || guessMime(f.name),
      updatedAt: f.updatedAt || run.updatedAt || run.createdAt,
      md5: crypto.createHash('md5').update(data).digest('base64'),
      token: crypto.createHash('sha256').update(`${run.id}/${f.name}/${n}`).digest('hex').slice(0, 32),
    };
    run.files = run.files.filter((x) => x.name !== f.name);
    run.files.push(file);
    run.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return file;
  }

  fileByToken(token) {
    for (const p of this.projects.values()) for (const r of p.runs) for (const f of r.files) if (f.token === token) return { run: r, file: f };
    return null;
  }

  runsOf() { const out = []; for (const p of this.projects.values()) out.push(...p.runs); return out; }

  // ---- synthetic runs for benchmarks
  generate(o) {
    const entity = o.entity || this.viewer.entity;
    const project = o.project || 'bench';
    const n = Math.max(0, o.runs | 0);
    const running = Math.min(n, Math.max(0, o.running | 0));
    const steps = Math.max(0, o.steps | 0);
    const keys = Array.isArray(o.keys) && o.keys.length ? o.keys.map(String) : ['loss', 'acc', 'lr'];
    const seed = o.seed === undefined ? 1 : o.seed | 0;
    const cfgKeys = o.config_keys === undefined ? 5 : Math.max(0, o.config_keys | 0);
    const sumKeys = o.summary_keys === undefined ? 0 : Math.max(0, o.summary_keys | 0);
    const proj = this.ensureProject(entity, project);
    const rnd = prng(seed);
    const used = new Set(proj.byName.keys());
    const states = ['finished', 'finished', 'finished', 'finished', 'finished', 'crashed', 'failed', 'killed'];
    const adjectives = ['amber', 'brisk', 'calm', 'daring', 'eager', 'fancy', 'gentle', 'happy', 'icy', 'jolly', 'keen', 'lucky'];
    const nouns = ['frog', 'river', 'comet', 'pine', 'otter', 'dawn', 'field', 'star', 'wave', 'moon', 'leaf', 'cloud'];
    const t0 = o.start ? Date.parse(o.start) : BASE_TIME;
    const made = [];
    for (let i = 0; i < n; i++) {
      let name;
      do {
        name = '';
        for (let j = 0; j < 8; j++) name += '0123456789abcdefghijklmnopqrstuvwxyz'[Math.floor(rnd() * 36)];
      } while (used.has(name));
      used.add(name);
      const isRunning = i >= n - running;
      const created = t0 + i * 60000;
      const cfg = {};
      const base = [['lr', round(10 ** (-2 - 3 * rnd()), 8)], ['batch_size', [16, 32, 64, 128][Math.floor(rnd() * 4)]],
        ['optimizer', ['adam', 'sgd', 'adamw'][Math.floor(rnd() * 3)]], ['epochs', 1 + Math.floor(rnd() * 100)],
        ['dropout', round(rnd() * 0.5, 3)]];
      for (let k = 0; k < cfgKeys; k++) {
        const [ck, cv] = k < base.length ? base[k] : [`param_${k}`, round(rnd() * 100, 4)];
        cfg[ck] = { value: cv, desc: null };
      }
      cfg._wandb = { value: { cli_version: '0.26.1', python_version: '3.11.9', is_jupyter_run: false } };
      const gen = { seed: seed * 1000003 + i, steps, keys, t0: created };
      const summary = {};
      const hist = new History(gen);
      const last = hist.lastRow();
      if (last) Object.assign(summary, last.obj);
      for (let k = 0; k < sumKeys; k++) summary[`metric_${k}`] = round(rnd() * 10, 6);
      const run = this.addRun(proj, {
        name,
        displayName: `${adjectives[i % adjectives.length]}-${nouns[Math.floor(i / adjectives.length) % nouns.length]}-${i + 1}`,
        state: isRunning ? 'running' : states[Math.floor(rnd() * states.length)],
        config: tjson.stringify(cfg),
        summaryMetrics: tjson.stringify(summary),
        tags: rnd() < 0.2 ? ['baseline'] : [],
        group: `group-${i % 10}`,
        jobType: i % 7 === 0 ? 'eval' : 'train',
        host: `node-${i % 16}`,
        createdAt: isoNow(created),
        heartbeatAt: isoNow(created + Math.max(1, steps) * 1500),
        _gen: gen,
      });
      made.push(run.name);
    }
    return { entity, project, runs: made.length, names: made };
  }

  // ---- live simulation: every running run that is not stalled logs `steps` new rows
  simulate(steps = 1, nowMs = Date.now()) {
    let advanced = 0;
    for (const proj of this.projects.values()) {
      let changed = false;
      for (const run of proj.runs) {
        if (run.state !== 'running' || !run.heartbeats) continue;
        changed = true;
        run.heartbeatAt = isoNow(nowMs);
        if (run.stalled) continue;
        for (let s = 0; s < steps; s++) this.appendSimulatedRow(run, nowMs);
        advanced++;
      }
      if (changed) this.touch(proj);
    }
    return { advanced };
  }

  appendSimulatedRow(run, nowMs) {
    const last = run.history.lastRow();
    const prev = last ? (last.obj || safeParse(last.text)) : {};
    const step = run.history.lastStep() + 1;
    const row = { _step: step };
    const keys = Object.keys(prev).filter((k) => !k.startsWith('_') && typeof prev[k] === 'number');
    if (keys.length === 0) keys.push('loss', 'acc', 'lr');
    const noise = hash01(run.id, step);
    for (const k of keys) {
      const p = prev[k];
      const lk = k.toLowerCase();
      if (typeof p !== 'number' || !Number.isFinite(p)) row[k] = metricValue(k, step, noise);
      else if (lk.includes('loss')) row[k] = round(p * (0.985 + 0.02 * noise), 6);
      else if (lk.includes('acc')) row[k] = round(Math.min(1, p + (1 - p) * 0.01 * (0.5 + noise)), 6);
      else row[k] = round(p * (0.995 + 0.01 * noise), 9);
    }
    if (run.nanNext) { row.loss = NaN; run.nanNext = false; }
    const prevRuntime = typeof prev._runtime === 'number' ? prev._runtime : 0;
    row._runtime = round(prevRuntime + 1.5, 3);
    row._timestamp = round(nowMs / 1000, 3);
    run.history.append(row);
    run.events.append({ _runtime: row._runtime, _timestamp: row._timestamp, 'system.cpu': round(20 + 60 * noise, 1),
      'system.memory': round(40 + 10 * noise, 1), 'system.gpu.0.gpu': round(90 + 9 * noise, 1) });
    run.summaryMetrics = setMembers(run.summaryMetrics, row);
    run.updatedAt = isoNow(nowMs);
  }
}

function safeParse(text) { try { return tjson.parse(text); } catch (e) { return {}; } }

// Overwrite members of an object text with the values of `obj`, keeping the others verbatim.
function setMembers(text, obj) {
  const upd = new Map();
  for (const [k, v] of Object.entries(obj)) upd.set(k, v === undefined ? undefined : tjson.stringify(v));
  return tjson.mergeMembers(text, upd);
}

function docText(v, dflt) {
  if (v === undefined || v === null) return dflt;
  return typeof v === 'string' ? v : tjson.stringify(v);
}

function defaultViewer() {
  return { id: 'VXNlcjox', username: 'rw-bot', name: 'Runwatch Test Bot', email: 'bot@rw-team.example',
    entity: 'rw-team', admin: false, teams: ['rw-team'], flags: '{}' };
}

function makeSweep(s, proj) {
  return {
    id: s.id || b64(`Sweep:${proj.entity}/${proj.name}/${s.name}`),
    name: s.name,
    displayName: s.displayName === undefined ? null : s.displayName,
    method: s.method || 'bayes',
    state: s.state || 'FINISHED',
    description: s.description === undefined ? null : s.description,
    bestLoss: s.bestLoss === undefined ? null : s.bestLoss,
    config: typeof s.config === 'string' ? s.config : JSON.stringify(s.config || {}),
    createdAt: s.createdAt || proj.createdAt,
    updatedAt: s.updatedAt || null,
    runCountExpected: s.runCountExpected === undefined ? null : s.runCountExpected,
  };
}

function commitFromMetadata(run) {
  const f = run.files.find((x) => x.name === 'wandb-metadata.json');
  if (!f) return null;
  try { const m = JSON.parse(f.data.toString('utf8')); return (m.git && m.git.commit) || null; } catch (e) { return null; }
}

function guessMime(name) {
  if (/\.json$/.test(name)) return 'application/json';
  if (/\.(log|txt|yaml|yml|md)$/.test(name)) return 'text/plain';
  if (/\.png$/.test(name)) return 'image/png';
  if (/\.html?$/.test(name)) return 'text/html';
  return 'application/octet-stream';
}

function readFixtures(file) { return tjson.parse(fs.readFileSync(file, 'utf8')); }

module.exports = { Store, History, rowMembers, setMembers, readFixtures, isoNow, hash01, DEFAULT_KEY, b64, typeName };
