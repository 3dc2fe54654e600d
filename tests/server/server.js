#!/usr/bin/env node
// W&B-compatible test server: HTTP transport (/graphql, /files, /storage, /hooks), auth, fault injection and the admin API.
'use strict';

const http = require('http');
const path = require('path');
const zlib = require('zlib');
const { Store, readFixtures, DEFAULT_KEY, isoNow } = require('./data');
const schema = require('./schema');
const tjson = require('./tjson');
const { Faults, describe } = require('./faults');

const DEFAULT_FIXTURES = path.join(__dirname, 'fixtures', 'default.json');
const MAX_BODY = 64 * 1024 * 1024;
const MAX_LOG = 50000;
const GZIP_MIN = 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function json(status, obj, headers = {}) {
  return { status, headers: { 'Content-Type': 'application/json', ...headers }, body: Buffer.from(tjson.stringify(obj), 'utf8') };
}

function gqlError(status, message) { return json(status, { errors: [{ message }] }); }

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new HttpError(413, 'request body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => {
      let buf = Buffer.concat(chunks);
      const enc = String(req.headers['content-encoding'] || '').toLowerCase();
      try {
        if (enc === 'gzip') buf = zlib.gunzipSync(buf);
        else if (enc === 'deflate') buf = zlib.inflateSync(buf);
      } catch (e) { reject(new HttpError(400, `bad ${enc} request body`)); return; }
      resolve(buf);
    });
    req.on('error', reject);
  });
}

function parseJsonBody(buf, what = 'request body') {
  if (!buf.length) return {};
  try { return JSON.parse(buf.toString('utf8')); } catch (e) { throw new HttpError(400, `${what} is not valid JSON: ${e.message}`); }
}

class TestServer {
  constructor(opts = {}) {
    this.opts = {
      port: 0,
      host: '127.0.0.1',
      fixtures: DEFAULT_FIXTURES,
      latency: 0,
      keys: [],
      verbose: false,
      liveMs: 0,
      ...opts,
    };
    this.store = new Store();
    this.faults = new Faults();
    this.servers = [];
    this.sockets = new Set();
    this.resetAll();
  }

  // ---------------------------------------------------------------- state

  loadFixtures(fx) {
    this.store.clear();
    if (fx) this.store.load(fx);
    for (const k of this.opts.keys) this.store.keys.add(k);
    if (this.store.keys.size === 0) this.store.keys.add(DEFAULT_KEY);
  }

  resetAll(fixtures) {
    let fx = null;
    const src = fixtures === undefined ? this.opts.fixtures : fixtures;
    if (typeof src === 'string' && src) fx = readFixtures(src);
    else if (src && typeof src === 'object') fx = src;
    this.loadFixtures(fx);
    this.faults.clear();
    this.latency = this.opts.latency | 0;
    this.requests = [];
    this.reqSeq = 0;
    this.hooks = [];
    this.hookSeq = 0;
    this.hookStatus = new Map();
    this.filesRedirect = false;
    this.resetMode = false;
    if (schema.getWithout().length) schema.setWithout([]);
  }

  validKey(k) { return typeof k === 'string' && k.length >= 40 && this.store.keys.has(k); }

  // "ok" | "bad" | "none", and the basic-auth user name (never the password)
  authOf(req) {
    const h = req.headers.authorization;
    if (!h) return { auth: 'none', user: null };
    const m = /^Basic\s+(\S+)\s*$/i.exec(h);
    if (!m) return { auth: 'bad', user: null };
    const dec = Buffer.from(m[1], 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i < 0) return { auth: 'bad', user: null };
    const user = dec.slice(0, i);
    return { auth: this.validKey(dec.slice(i + 1)) ? 'ok' : 'bad', user };
  }

  containsKey(text) {
    for (const k of this.store.keys) if (k.length >= 40 && text.includes(k)) return true;
    return false;
  }

  // Replace every configured key in `text` by "<api-key>" (nothing recorded ever holds a key).
  redact(text) {
    if (typeof text !== 'string') return text;
    for (const k of this.store.keys) if (k.length >= 40 && text.includes(k)) text = text.split(k).join('<api-key>');
    return text;
  }

  log(...a) { if (this.opts.verbose) process.stderr.write(a.join(' ') + '\n'); }

  // ---------------------------------------------------------------- lifecycle

  async start() {
    const handler = (req, res) => {
      this.handle(req, res).catch((e) => {
        this.log('handler error:', e && e.stack);
        if (!res.headersSent) this.send(req, res, gqlError(e.status || 500, e.message || 'internal error'), {});
        else res.destroy();
      });
    };
    const main = http.createServer(handler);
    await this.listen(main, this.opts.port, this.opts.host);
    this.port = main.address().port;
    this.servers = [main];
    // `localhost` may resolve to ::1 first: also answer there when serving 127.0.0.1
    if (this.opts.host === '127.0.0.1') {
      const v6 = http.createServer(handler);
      try { await this.listen(v6, this.port, '::1'); this.servers.push(v6); } catch (e) { /* no IPv6 loopback */ }
    }
    this.url = `http://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${this.port}`;
    if (this.opts.liveMs > 0) this.liveTimer = setInterval(() => this.store.simulate(1), this.opts.liveMs);
    return { port: this.port, url: this.url };
  }

  listen(srv, port, host) {
    srv.keepAliveTimeout = 30000;
    if (!srv._rwTracked) {
      srv._rwTracked = true;
      srv.on('connection', (s) => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      });
    }
    return new Promise((resolve, reject) => {
      const onErr = (e) => { srv.removeListener('listening', onOk); reject(e); };
      const onOk = () => { srv.removeListener('error', onErr); resolve(); };
      srv.once('error', onErr);
      srv.once('listening', onOk);
      srv.listen(port, host);
    });
  }

  async stop() {
    clearInterval(this.liveTimer);
    clearTimeout(this.downTimer);
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((srv) => new Promise((r) => (srv.listening ? srv.close(() => r()) : r()))));
  }

  // Refuse connections for `ms` (listeners closed), then listen again on the same port.
  async goDown(ms) {
    this.downUntil = Date.now() + ms;
    const closing = this.servers.map((srv) => new Promise((r) => (srv.listening ? srv.close(() => r()) : r())));
    for (const s of this.sockets) s.destroy();
    await Promise.all(closing);
    clearTimeout(this.downTimer);
    this.downTimer = setTimeout(() => this.comeBack(), Math.max(0, this.downUntil - Date.now()));
  }

  async comeBack() {
    this.downUntil = 0;
    const hosts = [this.opts.host, '::1'];
    await Promise.all(this.servers.map((srv, i) => this.listen(srv, this.port, hosts[i]).catch((e) => this.log('relisten failed:', e.message))));
  }

  // ---------------------------------------------------------------- HTTP

  async handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    const p = url.pathname;
    const body = await readBody(req).catch((e) => { throw e instanceof HttpError ? e : new HttpError(400, e.message); });
    if (p === '/_admin' || p.startsWith('/_admin/')) {
      let answer;
      try { answer = await this.admin(req, url, body); } catch (e) {
        answer = json(e instanceof HttpError ? e.status : 400, { error: e.message });
      }
      return this.send(req, res, answer, {});
    }
    if (this.resetMode) { req.socket.destroy(); return; }

    const kind = p === '/graphql' ? 'graphql' : p.startsWith('/files/') ? 'files' : p.startsWith('/storage/') ? 'storage'
      : p.startsWith('/artifactsV2/') ? 'artifacts'
      : p.startsWith('/hooks/') ? 'hooks' : 'other';
    const { auth, user } = this.authOf(req);
    const entry = {
      seq: ++this.reqSeq, time: new Date().toISOString(), method: req.method, path: p,
      operationName: null, variables: null, query: null, auth, auth_user: user, status: null, bytes_out: 0, fault: null,
      user_agent: req.headers['user-agent'] || null, gzip: false,
    };
    if (kind === 'storage' || kind === 'hooks') entry.auth_header = !!req.headers.authorization;
    let gql = null;
    if (kind === 'graphql' && req.method === 'POST') {
      try {
        const b = JSON.parse(body.toString('utf8'));
        if (b && typeof b === 'object') {
          gql = { body: b, prepared: schema.prepare(b) };
          entry.operationName = gql.prepared.operationName;
          entry.variables = b.variables === undefined ? null : b.variables;
          if (entry.variables && this.containsKey(JSON.stringify(entry.variables))) entry.variables = JSON.parse(this.redact(JSON.stringify(entry.variables)));
          entry.query = typeof b.query === 'string' ? this.redact(b.query) : null;
        }
      } catch (e) { gql = { error: e.message }; }
    }
    this.requests.push(entry);
    if (this.requests.length > MAX_LOG) this.requests.splice(0, this.requests.length - MAX_LOG);

    const rule = this.faults.pick({ path: p, method: req.method, op: entry.operationName });
    const action = rule ? rule.action : {};
    if (rule) entry.fault = describe(action);

    if ((kind === 'graphql' || kind === 'files' || kind === 'artifacts') && this.latency > 0) await sleep(this.latency);
    if (action.delay_ms) await sleep(action.delay_ms);

    if (action.drop === 'before') {
      entry.status = 0;
      req.socket.destroy();
      this.log(entry.seq, req.method, p, 'dropped');
      return;
    }

    let answer;
    if (action.status !== undefined) {
      const b = action.body === undefined ? tjson.stringify({ errors: [{ message: http.STATUS_CODES[action.status] || 'error' }] })
        : typeof action.body === 'string' ? action.body : tjson.stringify(action.body);
      // a server or proxy that echoes the credentials it was sent (for redaction tests)
      const echoed = b.split('{{authorization}}').join(String(req.headers.authorization || ''));
      answer = { status: action.status, headers: { 'Content-Type': 'application/json', ...(action.headers || {}) }, body: Buffer.from(echoed) };
    } else if (action.graphql_error !== undefined) {
      answer = json(200, { errors: [{ message: String(action.graphql_error) }], data: null });
    } else if (action.malformed) {
      answer = { status: 200, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"data": {"project": {"run": {"id": "Un') };
    } else {
      answer = await this.serve(kind, req, url, body, gql, entry);
      if (action.headers) Object.assign(answer.headers, action.headers);
    }
    let cut = null;
    if (action.truncate !== undefined) cut = Math.max(0, action.truncate | 0);
    else if (action.drop === 'mid-body') cut = -1;
    this.send(req, res, answer, { cut, entry });
    this.log(entry.seq, req.method, p, entry.operationName || '', entry.status, entry.fault || '');
  }

  // Write an answer; cut = N sends only the first N bytes of the body (-1: half) with the full Content-Length.
  send(req, res, answer, { cut = null, entry = null }) {
    let body = Buffer.isBuffer(answer.body) ? answer.body : Buffer.from(answer.body || '');
    const headers = { ...answer.headers };
    const ae = String(req.headers['accept-encoding'] || '');
    if (body.length > GZIP_MIN && /\bgzip\b/i.test(ae) && !headers['Content-Encoding']) {
      body = zlib.gzipSync(body);
      headers['Content-Encoding'] = 'gzip';
      headers.Vary = 'Accept-Encoding';
      if (entry) entry.gzip = true;
    }
    headers['Content-Length'] = body.length;
    if (entry) entry.status = answer.status;
    res.writeHead(answer.status, headers);
    if (cut === null) {
      res.end(body);
      if (entry) entry.bytes_out = body.length;
      return;
    }
    const n = cut < 0 ? Math.floor(body.length / 2) : Math.min(cut, body.length);
    if (entry) entry.bytes_out = n;
    res.write(body.subarray(0, n), () => req.socket.destroy());
  }

  async serve(kind, req, url, body, gql, entry) {
    switch (kind) {
      case 'graphql': {
        if (req.method !== 'POST') return gqlError(405, 'use POST for /graphql');
        if (entry.auth !== 'ok') return gqlError(401, 'user is not logged in');
        if (!gql || gql.error) return gqlError(400, `request body is not valid JSON${gql ? ': ' + gql.error : ''}`);
        const ctx = { store: this.store, baseUrl: `http://${req.headers.host || `127.0.0.1:${this.port}`}`, storageBase: `http://localhost:${this.port}` };
        const result = await schema.run(gql.prepared, gql.body, ctx);
        return json(200, result);
      }
      case 'files': {
        if (req.method !== 'GET' && req.method !== 'HEAD') return gqlError(405, 'use GET for /files');
        if (entry.auth !== 'ok') return gqlError(401, 'user is not logged in');
        const parts = url.pathname.split('/').slice(2).map((s) => decodeURIComponent(s));
        if (parts.length < 4) return json(404, { error: 'file not found' });
        const [entity, project, runName, ...rest] = parts;
        const proj = this.store.project(entity, project);
        const run = proj && proj.byName.get(runName);
        const file = run && run.files.find((f) => f.name === rest.join('/'));
        if (!file) return json(404, { error: 'file not found' });
        if (this.filesRedirect) {
          return { status: 302, headers: { Location: `http://localhost:${this.port}/storage/${file.token}`, 'Content-Type': 'text/plain' }, body: Buffer.from('Found') };
        }
        return { status: 200, headers: { 'Content-Type': file.mimetype }, body: file.data };
      }
      case 'artifacts': {
        if (req.method !== 'GET' && req.method !== 'HEAD') return gqlError(405, 'use GET for /artifactsV2');
        if (entry.auth !== 'ok') return gqlError(401, 'user is not logged in');
        const bytes = this.store.artifacts.serveAuthed(url.pathname.split('/').slice(2).map((s) => decodeURIComponent(s)));
        if (!bytes) return json(404, { error: 'file not found' });
        return { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: bytes };
      }
      case 'storage': {
        if (url.pathname.startsWith('/storage/art/')) {
          const hit = this.store.artifacts.serveStorage(url.pathname.slice('/storage/art/'.length), url.searchParams);
          return { status: hit.status, headers: { 'Content-Type': hit.type }, body: hit.body };
        }
        const token = url.pathname.slice('/storage/'.length);
        const hit = this.store.fileByToken(token);
        if (!hit) return json(404, { error: 'object not found' });
        return { status: 200, headers: { 'Content-Type': hit.file.mimetype }, body: hit.file.data };
      }
      case 'hooks': {
        const name = decodeURIComponent(url.pathname.slice('/hooks/'.length));
        const original = body.toString('utf8');
        const leaked = this.containsKey(original) || this.containsKey(JSON.stringify(req.headers)) || this.containsKey(req.url);
        const text = this.redact(original);
        const headers = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k] = k === 'authorization' ? '<redacted>' : this.redact(String(v));
        let parsed = null;
        try { parsed = JSON.parse(text); } catch (e) { parsed = null; }
        this.hooks.push({
          seq: ++this.hookSeq, time: new Date().toISOString(), name, method: req.method, query: this.redact(url.search || ''), headers,
          body: text, json: parsed, has_authorization: !!req.headers.authorization, contains_api_key: leaked,
        });
        const status = this.hookStatus.has(name) ? this.hookStatus.get(name) : this.hookStatus.has('*') ? this.hookStatus.get('*') : 200;
        return { status, headers: { 'Content-Type': 'text/plain' }, body: Buffer.from(status < 300 ? 'ok' : 'error') };
      }
      default:
        return json(404, { error: `no route for ${req.method} ${url.pathname}` });
    }
  }

  // ---------------------------------------------------------------- admin API

  async admin(req, url, body) {
    const m = req.method;
    const parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent); // after "_admin"
    const what = parts[0] || '';
    const q = url.searchParams;
    const input = () => parseJsonBody(body, 'admin body');
    const runAt = () => {
      if (parts.length !== 4) throw new HttpError(400, `use /_admin/${what}/<entity>/<project>/<runid>`);
      const proj = this.store.project(parts[1], parts[2]);
      const run = proj && proj.byName.get(parts[3]);
      if (!run) throw new HttpError(404, `no run ${parts.slice(1).join('/')}`);
      return run;
    };

    if (what === 'health' && m === 'GET') return json(200, { ok: true, port: this.port, url: this.url });

    if (what === 'requests') {
      if (m === 'DELETE') { this.requests = []; return json(200, { ok: true }); }
      let list = this.requests;
      if (q.has('op')) list = list.filter((e) => e.operationName === q.get('op'));
      if (q.has('path')) list = list.filter((e) => e.path === q.get('path') || e.path.startsWith(q.get('path')));
      if (q.has('since')) list = list.filter((e) => e.seq > Number(q.get('since')));
      return json(200, list);
    }

    if (what === 'run' && m === 'GET') return json(200, dumpRun(runAt(), q.get('history') === '1'));

    if (what === 'projects' && m === 'GET') {
      return json(200, [...this.store.projects.values()].map((p) => ({ entity: p.entity, name: p.name, runs: p.runs.length, sweeps: p.sweeps.map((s) => s.name) })));
    }

    if (what === 'reset' && m === 'POST') {
      const b = input();
      this.resetAll(b.fixtures === undefined ? undefined : b.fixtures);
      return json(200, { ok: true, runs: this.store.runsById.size });
    }

    if (what === 'load' && m === 'POST') {
      this.store.load(input());
      return json(200, { ok: true, runs: this.store.runsById.size });
    }

    if (what === 'keys' && m === 'POST') {
      const b = input();
      if (!Array.isArray(b.keys)) throw new HttpError(400, '"keys" must be an array');
      this.store.keys = new Set(b.keys.map(String));
      return json(200, { ok: true });
    }

    if (what === 'latency' && m === 'POST') {
      this.latency = Math.max(0, Number(input().ms) || 0);
      return json(200, { ok: true, ms: this.latency });
    }

    if (what === 'generate' && m === 'POST') return json(200, this.store.generate(input()));

    if (what === 'simulate' && m === 'POST') {
      const b = input();
      return json(200, this.store.simulate(b.steps === undefined ? 1 : Math.max(0, b.steps | 0)));
    }

    if (what === 'runs' && m === 'POST') return json(200, dumpRun(this.scriptRun(runAt(), input()), false));

    if (what === 'faults') {
      if (m === 'DELETE') { this.faults.clear(); return json(200, { ok: true }); }
      if (m === 'GET') return json(200, this.faults.list());
      if (m === 'POST') {
        const b = input();
        if (b.append) this.faults.add(b.rules); else this.faults.set(b.rules);
        return json(200, { ok: true, rules: this.faults.rules.length });
      }
    }

    if (what === 'down' && m === 'POST') {
      const b = input();
      const ms = Math.max(0, Number(b.ms) || 0);
      if (b.mode === 'reset') {
        this.resetMode = true;
        clearTimeout(this.downTimer);
        this.downTimer = setTimeout(() => { this.resetMode = false; }, ms);
        for (const s of this.sockets) if (s !== req.socket) s.destroy();
      } else {
        // answer first, then close the listeners
        setTimeout(() => this.goDown(ms).catch((e) => this.log('down failed:', e.message)), 20);
      }
      return json(200, { ok: true, ms, mode: b.mode === 'reset' ? 'reset' : 'refuse' }, { Connection: 'close' });
    }

    if (what === 'up' && m === 'POST') {
      clearTimeout(this.downTimer);
      this.resetMode = false;
      return json(200, { ok: true });
    }

    if (what === 'alerts') {
      if (m === 'DELETE') { this.store.alerts = []; return json(200, { ok: true }); }
      if (m === 'GET') return json(200, this.store.alerts);
    }

    if (what === 'hooks') {
      if (m === 'DELETE') { this.hooks = []; this.hookStatus.clear(); return json(200, { ok: true }); }
      if (m === 'GET') return json(200, q.has('name') ? this.hooks.filter((h) => h.name === q.get('name')) : this.hooks);
      if (m === 'POST') {
        const b = input();
        this.hookStatus.set(b.name === undefined ? '*' : String(b.name), Number(b.status) || 200);
        return json(200, { ok: true });
      }
    }

    if (what === 'artifacts') {
      if (m === 'GET' && parts.length === 3) return json(200, this.store.artifacts.dump(parts[1], parts[2]));
      if (m === 'POST' && parts.length === 2) return json(200, this.store.artifacts.admin(parts[1], input()));
      throw new HttpError(400, 'use GET /_admin/artifacts/<entity>/<project> or POST /_admin/artifacts/<version|alias|corrupt|manifest|delete>');
    }

    if (what === 'schema' && m === 'POST') {
      const b = input();
      const list = b.without === undefined ? [] : b.without;
      if (!Array.isArray(list) || !list.every((f) => typeof f === 'string' && /^\w+\.\w+$/.test(f))) {
        throw new HttpError(400, '"without" must be a list of "Type.field"');
      }
      try { schema.setWithout(list); } catch (e) { throw new HttpError(400, e.message); }
      return json(200, { ok: true, without: schema.getWithout() });
    }

    if (what === 'cursors' && m === 'POST') {
      const b = input();
      if (b.mode !== 'keyset' && b.mode !== 'offset') throw new HttpError(400, '"mode" must be "keyset" or "offset"');
      this.store.cursorMode = b.mode;
      return json(200, { ok: true, mode: b.mode });
    }

    if (what === 'files' && m === 'POST') {
      const b = input();
      if (b.redirect !== undefined) this.filesRedirect = !!b.redirect;
      return json(200, { ok: true, redirect: this.filesRedirect });
    }

    throw new HttpError(404, `no admin route ${m} ${url.pathname}`);
  }

  // Script a run out of band (crash, finish, stall, tag added in the UI, ...).
  scriptRun(run, b) {
    const now = isoNow();
    const meta = (k) => Object.prototype.hasOwnProperty.call(b, k);
    if (meta('state')) run.state = b.state;
    if (meta('stall')) run.stalled = !!b.stall;
    if (meta('heartbeat')) run.heartbeats = !!b.heartbeat;
    if (meta('nan')) run.nanNext = !!b.nan;
    for (const k of ['notes', 'description', 'displayName', 'group', 'jobType', 'config', 'summaryMetrics', 'systemMetrics']) {
      if (meta(k)) run[k] = b[k];
    }
    if (Array.isArray(b.tags_add)) for (const t of b.tags_add) if (!run.tags.includes(t)) run.tags.push(String(t));
    if (Array.isArray(b.tags_remove)) run.tags = run.tags.filter((t) => !b.tags_remove.includes(t));
    if (Array.isArray(b.append_history) && b.append_history.length) {
      for (const row of b.append_history) run.history.append(row);
      if (b.update_summary !== false) {
        const last = run.history.lastRow();
        run.summaryMetrics = tjson.mergeMembers(run.summaryMetrics,
          new Map(tjson.members(last.text).map(([k, , raw]) => [k, raw])));
      }
      if (run.heartbeats && !meta('heartbeatAt')) run.heartbeatAt = now;
    }
    if (Array.isArray(b.append_events)) for (const row of b.append_events) run.events.append(row);
    if (b.summary_set && typeof b.summary_set === 'object') {
      const upd = new Map();
      for (const [k, v] of Object.entries(b.summary_set)) upd.set(k, typeof v === 'object' && v !== null && v.$raw !== undefined ? String(v.$raw) : tjson.stringify(v));
      run.summaryMetrics = tjson.mergeMembers(run.summaryMetrics, upd);
    }
    if (Array.isArray(b.summary_delete)) {
      run.summaryMetrics = tjson.mergeMembers(run.summaryMetrics, new Map(b.summary_delete.map((k) => [k, undefined])));
    }
    if (meta('heartbeatAt')) run.heartbeatAt = b.heartbeatAt;
    run.updatedAt = b.updatedAt || now;
    this.store.touch(run.project);
    return run;
  }
}

function dumpRun(r, withHistory) {
  const out = {
    id: r.id, name: r.name, entity: r.project.entity, project: r.project.name, displayName: r.displayName, state: r.state,
    config: r.config, summaryMetrics: r.summaryMetrics, systemMetrics: r.systemMetrics, tags: r.tags, notes: r.notes,
    description: r.description, group: r.group, jobType: r.jobType, sweepName: r.sweepName, commit: r.commit, host: r.host,
    createdAt: r.createdAt, heartbeatAt: r.heartbeatAt, updatedAt: r.updatedAt, user: r.user,
    historyLineCount: r.history.length, lastStep: r.history.lastStep(), eventCount: r.events.length,
    stalled: r.stalled, heartbeats: r.heartbeats,
    files: r.files.map((f) => ({ name: f.name, size: f.data.length, mimetype: f.mimetype, md5: f.md5 })),
  };
  if (withHistory) {
    out.history = Array.from({ length: r.history.length }, (_, i) => r.history.row(i).text);
    out.events = Array.from({ length: r.events.length }, (_, i) => r.events.row(i).text);
  }
  return out;
}

async function startServer(opts) {
  const s = new TestServer(opts);
  await s.start();
  return s;
}

function parseArgs(argv) {
  const o = { keys: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': o.port = Number(val()); break;
      case '--host': o.host = val(); break;
      case '--fixtures': o.fixtures = val(); break;
      case '--empty': o.fixtures = null; break;
      case '--latency': o.latency = Number(val()); break;
      case '--key': o.keys.push(val()); break;
      case '--live-ms': o.liveMs = Number(val()); break;
      case '--verbose': o.verbose = true; break;
      case '-h': case '--help':
        process.stdout.write('usage: server.js [--port N] [--host 127.0.0.1] [--fixtures FILE.json | --empty] [--latency MS] [--key KEY]... [--live-ms N] [--verbose]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

async function main() {
  let opts;
  try { opts = parseArgs(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`server.js: ${e.message}\n`);
    process.exit(2);
  }
  if (opts.fixtures) opts.fixtures = path.resolve(opts.fixtures);
  const s = new TestServer(opts);
  const { port, url } = await s.start();
  process.stdout.write(JSON.stringify({ port, url }) + '\n');
  const quit = () => { s.stop().then(() => process.exit(0), () => process.exit(0)); };
  process.on('SIGTERM', quit);
  process.on('SIGINT', quit);
}

module.exports = { startServer, TestServer, DEFAULT_KEY };

if (require.main === module) {
  main().catch((e) => { process.stderr.write(`server.js: ${e.stack || e}\n`); process.exit(1); });
}
