// Fault injection (each action kind, matching, counting), server down windows, live simulation and the webhook receiver.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const http = require('http');
const { withServer, request, authHeader, KEY } = require('./helpers');
const tjson = require('../tjson');

let env;
test.before(async () => { env = await withServer(); });
test.after(() => env.close());
test.beforeEach(async () => { await env.client.admin('DELETE', 'faults'); });

const VIEWER = 'query GetViewer { viewer { id } }';
const STATE = 'query RunState($project: String!, $entity: String!, $name: String!) { project(name: $project, entityName: $entity) { run(name: $name) { state } } }';

// raw POST /graphql: resolves {status, headers, body} or {error}
function raw(query, { variables = {}, gzip = false } = {}) {
  const headers = { Authorization: authHeader(), 'Content-Type': 'application/json' };
  if (gzip) headers['Accept-Encoding'] = 'gzip';
  return request(env.server.url + '/graphql', { method: 'POST', headers, body: { query, variables } }).catch((error) => ({ error }));
}

async function lastLog() { const l = await env.client.admin('GET', 'requests'); return l[l.length - 1]; }

test('status with headers and body, matched by operation name, `times` and `after`', async () => {
  await env.client.admin('POST', 'faults', { rules: [{ match: { op: 'RunState' }, times: 2, after: 1,
    action: { status: 429, headers: { 'Retry-After': '1', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '2' }, body: '{"errors":["rate limited"]}' } }] });
  const v = { project: 'vision', entity: 'rw-team', name: 'abc123xy' };
  const other = await raw(VIEWER);
  assert.strictEqual(other.status, 200, 'other operations are not hit');
  const statuses = [];
  for (let i = 0; i < 4; i++) {
    const r = await raw(STATE, { variables: v });
    statuses.push(r.status);
    if (r.status === 429) {
      assert.strictEqual(r.headers['retry-after'], '1');
      assert.strictEqual(r.headers['ratelimit-remaining'], '0');
      assert.strictEqual(r.headers['ratelimit-reset'], '2');
      assert.strictEqual(r.body.toString(), '{"errors":["rate limited"]}');
    }
  }
  assert.deepStrictEqual(statuses, [200, 429, 429, 200]);
  const log = await env.client.admin('GET', 'requests?op=RunState');
  assert.deepStrictEqual(log.slice(-4).map((e) => e.fault), [null, 'status:429', 'status:429', null]);
  const rules = await env.client.admin('GET', 'faults');
  assert.strictEqual(rules[0].hits, 2);
});

test('times -1 hits forever; path matching; default error body', async () => {
  await env.client.admin('POST', 'faults', { rules: [{ match: { path: '/graphql' }, times: -1, action: { status: 503 } }] });
  for (let i = 0; i < 3; i++) {
    const r = await raw(VIEWER);
    assert.strictEqual(r.status, 503);
    assert.deepStrictEqual(JSON.parse(r.body), { errors: [{ message: 'Service Unavailable' }] });
  }
  await env.client.admin('DELETE', 'faults');
  assert.strictEqual((await raw(VIEWER)).status, 200);
});

test('graphql_error and malformed answers', async () => {
  await env.client.admin('POST', 'faults', { rules: [
    { match: { op: 'GetViewer' }, action: { graphql_error: 'could not find project' } },
    { match: { op: 'GetViewer' }, action: { malformed: true } },
  ] });
  const a = await raw(VIEWER);
  assert.strictEqual(a.status, 200);
  assert.deepStrictEqual(JSON.parse(a.body), { errors: [{ message: 'could not find project' }], data: null });
  const b = await raw(VIEWER);
  assert.strictEqual(b.status, 200);
  assert.throws(() => JSON.parse(b.body));
  assert.strictEqual((await lastLog()).fault, 'malformed');
});

test('drop before answering and mid-body', async () => {
  await env.client.admin('POST', 'faults', { rules: [{ action: { drop: 'before' } }] });
  const a = await raw(VIEWER);
  assert.ok(a.error, 'socket closed without an answer');
  assert.match(a.error.code || a.error.message, /ECONNRESET|socket hang up/);
  assert.strictEqual((await lastLog()).status, 0);
  await env.client.admin('POST', 'faults', { rules: [{ action: { drop: 'mid-body' } }] });
  const q = 'query { project(name: "vision", entityName: "rw-team") { run(name: "abc123xy") { history(samples: 500) } } }';
  const b = await raw(q);
  assert.ok(b.error, 'body cut short');
  const e = await lastLog();
  assert.strictEqual(e.fault, 'drop:mid-body');
  assert.ok(e.bytes_out > 0);
});

test('truncate: full Content-Length, first N bytes, then close', async () => {
  await env.client.admin('POST', 'faults', { rules: [{ match: { op: 'GetViewer' }, action: { truncate: 10 } }] });
  const got = await new Promise((resolve) => {
    const req = http.request(env.server.url + '/graphql', { method: 'POST', agent: false, headers: { Authorization: authHeader() } }, (res) => {
      let body = Buffer.alloc(0);
      res.on('data', (c) => { body = Buffer.concat([body, c]); });
      const done = (how) => resolve({ how, len: Number(res.headers['content-length']), body });
      res.on('end', () => done('end'));
      res.on('aborted', () => done('aborted'));
      res.on('error', () => done('error'));
    });
    req.on('error', () => {});
    req.end(JSON.stringify({ query: VIEWER }));
  });
  assert.notStrictEqual(got.how, 'end');
  assert.strictEqual(got.body.length, 10);
  assert.ok(got.len > 10);
  assert.strictEqual(got.body.toString(), '{"data":{"');
});

test('delay_ms delays only the matched request', async () => {
  await env.client.admin('POST', 'faults', { rules: [{ match: { op: 'GetViewer' }, action: { delay_ms: 600 } }] });
  const t0 = Date.now();
  const [slow, fast] = await Promise.all([raw(VIEWER), raw('{ viewer { id } }').then((r) => ({ ...r, t: Date.now() - t0 }))]);
  assert.strictEqual(slow.status, 200);
  assert.ok(Date.now() - t0 >= 590);
  assert.ok(fast.t < 450, `unmatched request took ${fast.t} ms`);
});

test('faults on /files', async () => {
  await env.client.admin('POST', 'faults', { rules: [{ match: { path: '/files/' }, action: { status: 500 } }] });
  const url = `${env.server.url}/files/rw-team/vision/abc123xy/wandb-metadata.json`;
  assert.strictEqual((await request(url, { headers: { Authorization: authHeader() } })).status, 500);
  assert.strictEqual((await request(url, { headers: { Authorization: authHeader() } })).status, 200);
});

test('down: connections refused for the window, then back on the same port', async () => {
  const s = await withServer();
  try {
    await s.client.admin('POST', 'down', { ms: 400 });
    await new Promise((r) => setTimeout(r, 100));
    const r = await request(s.server.url + '/_admin/health').catch((e) => ({ error: e }));
    assert.ok(r.error, 'refused while down');
    assert.strictEqual(r.error.code, 'ECONNREFUSED');
    await new Promise((r2) => setTimeout(r2, 500));
    const ok = await s.client.gql('{ viewer { id } }');
    assert.ok(ok.data.viewer);
  } finally { await s.close(); }
});

test('down in reset mode: /graphql connections are closed, admin still answers, /_admin/up ends it', async () => {
  await env.client.admin('POST', 'down', { ms: 60000, mode: 'reset' });
  const r = await raw(VIEWER);
  assert.ok(r.error);
  await env.client.admin('POST', 'up', {});
  assert.strictEqual((await raw(VIEWER)).status, 200);
});

test('simulation: running runs log rows, stalled runs only heartbeat, dead runs nothing', async () => {
  const get = (n) => env.client.admin('GET', `run/rw-team/vision/${n}`);
  await env.client.admin('POST', 'runs/rw-team/vision/s5x6e7d8', { stall: true });
  const [run0, stall0, dead0] = await Promise.all([get('c9r0f1v2'), get('s5x6e7d8'), get('t5y6u7i8')]);
  const sim = await env.client.admin('POST', 'simulate', { steps: 3 });
  assert.ok(sim.advanced >= 3);
  const [run1, stall1, dead1] = await Promise.all([get('c9r0f1v2'), get('s5x6e7d8'), get('t5y6u7i8')]);
  assert.strictEqual(run1.historyLineCount, run0.historyLineCount + 3);
  assert.strictEqual(run1.lastStep, run0.lastStep + 3);
  assert.ok(run1.heartbeatAt > run0.heartbeatAt);
  const s = tjson.parse(run1.summaryMetrics);
  assert.strictEqual(s._step, run1.lastStep);
  assert.ok(typeof s.loss === 'number' && typeof s.acc === 'number');
  // untouched summary members keep their text
  assert.ok(run1.summaryMetrics.includes('"best_val_acc"'));
  assert.strictEqual(stall1.historyLineCount, stall0.historyLineCount);
  assert.ok(stall1.heartbeatAt > stall0.heartbeatAt);
  assert.deepStrictEqual(dead1, dead0);

  // scripted scenario: NaN next, out-of-band tag, crash
  await env.client.admin('POST', 'runs/rw-team/vision/c9r0f1v2', { nan: true, tags_add: ['from-ui'] });
  await env.client.admin('POST', 'simulate', { steps: 1 });
  const h = await env.client.gql('query H($s: Int64!) { project(name: "vision", entityName: "rw-team") { run(name: "c9r0f1v2") { tags history(minStep: $s, maxStep: 100000, samples: 10) } } }', { s: run1.lastStep + 1 });
  assert.match(h.data.project.run.history[0], /"loss":NaN/);
  assert.ok(h.data.project.run.tags.includes('from-ui'));
  await env.client.admin('POST', 'runs/rw-team/vision/c9r0f1v2', { state: 'crashed', tags_remove: ['from-ui'] });
  const c0 = await get('c9r0f1v2');
  await env.client.admin('POST', 'simulate', { steps: 1 });
  const c1 = await get('c9r0f1v2');
  assert.strictEqual(c1.state, 'crashed');
  assert.strictEqual(c1.historyLineCount, c0.historyLineCount);
  assert.deepStrictEqual(c1.tags, ['long']);

  // heartbeat: false -> nothing at all; append_history + summary_set
  await env.client.admin('POST', 'runs/rw-team/vision/x7k2m9p4', { heartbeat: false, heartbeatAt: '2024-03-20T12:00:00Z' });
  const x0 = await get('x7k2m9p4');
  await env.client.admin('POST', 'simulate', { steps: 1 });
  assert.strictEqual((await get('x7k2m9p4')).heartbeatAt, x0.heartbeatAt);
  const x1 = await env.client.admin('POST', 'runs/rw-team/vision/x7k2m9p4', { append_history: [{ loss: 0.5, custom: 'a' }, '{"_step": 100, "loss": 0.25}'], summary_set: { checked: true, big: { $raw: '9007199254740993' } } });
  assert.strictEqual(x1.lastStep, 100);
  assert.match(x1.summaryMetrics, /"_step":100/);
  assert.match(x1.summaryMetrics, /"checked":true/);
  assert.match(x1.summaryMetrics, /"big":9007199254740993/);
});

test('--live-ms advances running runs on its own', async () => {
  const s = await withServer({ liveMs: 30 });
  try {
    const a = await s.client.admin('GET', 'run/rw-team/nlp/bert0002');
    await new Promise((r) => setTimeout(r, 200));
    const b = await s.client.admin('GET', 'run/rw-team/nlp/bert0002');
    assert.ok(b.historyLineCount > a.historyLineCount);
  } finally { await s.close(); }
});

test('webhook receiver records body and headers, never the key; configurable status', async () => {
  await env.client.admin('DELETE', 'hooks');
  const hook = `http://localhost:${env.server.port}/hooks/slack`;
  const r = await request(hook, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: { text: 'run crashed' } });
  assert.strictEqual(r.status, 200);
  await env.client.admin('POST', 'hooks', { name: 'slack', status: 500 });
  const r2 = await request(hook, { method: 'POST', headers: { Authorization: authHeader() }, body: `leak ${KEY}` });
  assert.strictEqual(r2.status, 500);
  await request(`http://localhost:${env.server.port}/hooks/other`, { method: 'POST', body: 'x' });
  const hooks = await env.client.admin('GET', 'hooks?name=slack');
  assert.strictEqual(hooks.length, 2);
  assert.deepStrictEqual(hooks[0].json, { text: 'run crashed' });
  assert.strictEqual(hooks[0].headers['content-type'], 'application/json');
  assert.strictEqual(hooks[0].has_authorization, false);
  assert.strictEqual(hooks[0].contains_api_key, false);
  assert.strictEqual(hooks[1].has_authorization, true);
  assert.strictEqual(hooks[1].contains_api_key, true);
  assert.strictEqual(hooks[1].headers.authorization, '<redacted>');
  assert.strictEqual(hooks[1].body, 'leak <api-key>');
  assert.ok(!JSON.stringify(await env.client.admin('GET', 'hooks')).includes(KEY));
  assert.strictEqual((await env.client.admin('GET', 'hooks')).length, 3);
});

test('reset reloads the startup fixtures and clears logs', async () => {
  await env.client.admin('POST', 'runs/rw-team/vision/abc123xy', { state: 'killed' });
  await env.client.admin('POST', 'reset');
  const r = await env.client.admin('GET', 'run/rw-team/vision/abc123xy');
  assert.strictEqual(r.state, 'finished');
  assert.deepStrictEqual(await env.client.admin('GET', 'requests'), []);
  await env.client.admin('POST', 'load', { projects: [{ entity: 'rw-team', name: 'tiny', runs: [{ name: 'tiny0001', config: '{"a": {"value": 1}}' }] }] });
  assert.strictEqual((await env.client.admin('GET', 'run/rw-team/tiny/tiny0001')).config, '{"a": {"value": 1}}');
  await env.client.admin('POST', 'reset', { fixtures: { projects: [] } });
  assert.deepStrictEqual(await env.client.admin('GET', 'projects'), []);
  await env.client.admin('POST', 'reset');
});
