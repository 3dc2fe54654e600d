// Transport behaviour: auth, GraphQL error format, gzip, aliases, request log, CLI port line, latency, with-server.sh.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const zlib = require('zlib');
const path = require('path');
const { spawn, execFile } = require('child_process');
const { withServer, request, authHeader, KEY } = require('./helpers');

let env;
test.before(async () => { env = await withServer(); });
test.after(() => env.close());

test('viewer check and GetDefaultEntity', async () => {
  const r = await env.client.gql('{\n  viewer {\n    id\n  }\n}\n');
  assert.deepStrictEqual(r, { data: { viewer: { id: 'VXNlcjox' } } });
  const d = await env.client.gql('query GetDefaultEntity {\n  viewer {\n    id\n    entity\n  }\n}\n', {}, { operationName: '' });
  assert.strictEqual(d.data.viewer.entity, 'rw-team');
});

test('missing, wrong and short keys get 401 "user is not logged in"', async () => {
  for (const key of [null, 'rwtest_wrong_key_0123456789abcdef0123456789abcdef', 'short']) {
    const r = await env.client.gql('{ viewer { id } }', {}, { key });
    assert.strictEqual(r.status, 401);
    assert.deepStrictEqual(r, { errors: [{ message: 'user is not logged in' }] });
  }
  const log = await env.client.admin('GET', 'requests?path=/graphql');
  const auths = log.slice(-3).map((e) => e.auth);
  assert.deepStrictEqual(auths, ['none', 'bad', 'bad']);
  assert.ok(!JSON.stringify(log).includes(KEY), 'the key never appears in the request log');
  assert.ok(!JSON.stringify(log).includes('Basic '), 'the Authorization header is not stored');
});

test('a second configured key works; keys under 40 characters never do', async () => {
  const r = await env.client.gql('{ viewer { id } }', {}, { key: 'rwtest_second_key_0123456789abcdef0123456789ab' });
  assert.ok(r.data.viewer);
  const s = await withServer({ keys: ['too-short-key'] });
  try {
    const x = await s.client.gql('{ viewer { id } }', {}, { key: 'too-short-key' });
    assert.strictEqual(x.status, 401);
  } finally { await s.close(); }
});

test('invalid queries get 200 with graphql-js formatted errors', async () => {
  const r = await env.client.gql('{ viewer { idx } }');
  assert.strictEqual(r.status, 200);
  assert.deepStrictEqual(r, { errors: [{ message: 'Cannot query field "idx" on type "User". Did you mean "id"?', locations: [{ line: 1, column: 12 }] }] });
  const s = await env.client.gql('{ viewer { id }');
  assert.strictEqual(s.status, 200);
  assert.match(s.errors[0].message, /^Syntax Error/);
  assert.ok(s.errors[0].locations);
  const v = await env.client.gql('query R($n: String!) { project(name: "vision") { run(name: $n) { id } } }', {});
  assert.match(v.errors[0].message, /Variable "\$n" of required type "String!" was not provided/);
});

test('undeclared variables are ignored (Run.update sends entity/project/name)', async () => {
  const q = 'mutation UpsertBucket($id: String, $summaryMetrics: JSONString) {\n  upsertBucket(input: {id: $id, summaryMetrics: $summaryMetrics}) {\n    bucket {\n      id\n    }\n  }\n}\n';
  const before = await env.client.admin('GET', 'run/rw-team/nlp/bert0001');
  const r = await env.client.gql(q, { entity: 'rw-team', project: 'nlp', name: 'bert0001', id: before.id, summaryMetrics: before.summaryMetrics });
  assert.deepStrictEqual(r, { data: { upsertBucket: { bucket: { id: before.id } } } });
});

test('aliases: many runs in one request', async () => {
  const q = `query Batch($e: String!) {
    r1: project(name: "vision", entityName: $e) { run(name: "abc123xy") { name history(samples: 2) } }
    r2: project(name: "vision", entityName: $e) { run(name: "r2d2c3po") { name historyLineCount } }
    r3: project(name: "nlp", entityName: $e) { a: run(name: "bert0001") { name } b: run(name: "nope0000") { name } }
    missing: project(name: "nope", entityName: $e) { id }
  }`;
  const r = await env.client.gql(q, { e: 'rw-team' });
  assert.strictEqual(r.errors, undefined);
  assert.strictEqual(r.data.r1.run.name, 'abc123xy');
  assert.strictEqual(r.data.r1.run.history.length, 2);
  assert.strictEqual(r.data.r2.run.historyLineCount, 30);
  assert.strictEqual(r.data.r3.a.name, 'bert0001');
  assert.strictEqual(r.data.r3.b, null);
  assert.strictEqual(r.data.missing, null);
  const log = await env.client.admin('GET', 'requests?op=Batch');
  assert.strictEqual(log.length, 1);
  assert.deepStrictEqual(log[0].variables, { e: 'rw-team' });
  assert.strictEqual(log[0].auth, 'ok');
  assert.strictEqual(log[0].status, 200);
  assert.ok(log[0].bytes_out > 0);
});

test('operationName in the log comes from the document, not the body', async () => {
  await env.client.gql('query GetViewer { viewer { id } }', {}, { operationName: '' });
  const log = await env.client.admin('GET', 'requests');
  assert.strictEqual(log[log.length - 1].operationName, 'GetViewer');
});

test('large answers are gzipped when asked; small ones are not', async () => {
  const q = JSON.stringify({ query: 'query { project(name: "vision", entityName: "rw-team") { run(name: "abc123xy") { history(samples: 500) } } }', variables: {} });
  const big = await request(env.server.url + '/graphql', { method: 'POST', headers: { Authorization: authHeader(), 'Accept-Encoding': 'gzip, deflate', 'Content-Type': 'application/json' }, body: q });
  assert.strictEqual(big.headers['content-encoding'], 'gzip');
  assert.strictEqual(big.headers['content-type'], 'application/json');
  const data = JSON.parse(zlib.gunzipSync(big.body).toString());
  assert.strictEqual(data.data.project.run.history.length, 30);
  const small = await request(env.server.url + '/graphql', { method: 'POST', headers: { Authorization: authHeader(), 'Accept-Encoding': 'gzip' }, body: JSON.stringify({ query: '{ viewer { id } }' }) });
  assert.strictEqual(small.headers['content-encoding'], undefined);
  const plain = await request(env.server.url + '/graphql', { method: 'POST', headers: { Authorization: authHeader() }, body: q });
  assert.strictEqual(plain.headers['content-encoding'], undefined);
});

test('keep-alive: several requests over one connection', async () => {
  const http = require('http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ports = new Set();
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve, reject) => {
      const req = http.request(env.server.url + '/graphql', { method: 'POST', agent, headers: { Authorization: authHeader() } }, (res) => {
        ports.add(req.socket.localPort);
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ query: '{ viewer { id } }' }));
    });
  }
  agent.destroy();
  assert.strictEqual(ports.size, 1);
});

test('serverInfo, projects (models) paging and sweeps', async () => {
  const si = await env.client.gql('query ServerInfo { serverInfo { cliVersionInfo latestLocalVersionInfo { outOfDate latestVersionString versionOnThisInstanceString } } }');
  assert.strictEqual(si.data.serverInfo.latestLocalVersionInfo.outOfDate, false);
  const q = `query Projects($entity: String, $cursor: String, $perPage: Int = 50) {
    models(entityName: $entity, after: $cursor, first: $perPage) { edges { node { id name entityName createdAt isBenchmark } cursor } pageInfo { endCursor hasNextPage } } }`;
  const p1 = await env.client.gql(q, { entity: 'rw-team', perPage: 1 });
  assert.strictEqual(p1.data.models.edges[0].node.name, 'nlp');
  assert.strictEqual(p1.data.models.pageInfo.hasNextPage, true);
  const p2 = await env.client.gql(q, { entity: 'rw-team', perPage: 1, cursor: p1.data.models.edges[0].cursor });
  assert.strictEqual(p2.data.models.edges[0].node.name, 'vision');
  assert.strictEqual(p2.data.models.pageInfo.hasNextPage, false);
  const sw = await env.client.gql(`query GetSweep($name: String!, $project: String, $entity: String) {
    project(name: $project, entityName: $entity) { sweep(sweepName: $name) { __typename id name state bestLoss config runCount runCountExpected } totalSweeps } }`,
  { name: 'sw3ep9ab', project: 'vision', entity: 'rw-team' });
  assert.strictEqual(sw.data.project.sweep.runCount, 5);
  assert.strictEqual(sw.data.project.totalSweeps, 2);
});

test('--latency delays requests independently (not serialized)', async () => {
  const s = await withServer({ latency: 200 });
  try {
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 5 }, () => s.client.gql('{ viewer { id } }')));
    const dt = Date.now() - t0;
    assert.ok(dt >= 190 && dt < 900, `5 parallel requests took ${dt} ms (serialized would be 1000)`);
    await s.client.admin('POST', 'latency', { ms: 0 });
    const t1 = Date.now();
    await s.client.gql('{ viewer { id } }');
    assert.ok(Date.now() - t1 < 180);
  } finally { await s.close(); }
});

test('CLI prints exactly one port line and exits on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'server.js'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const line = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out); });
    child.on('exit', (c) => reject(new Error('exited ' + c)));
  });
  const m = /^\{"port":(\d+),"url":"http:\/\/127\.0\.0\.1:(\d+)"\}\n$/.exec(line);
  assert.ok(m, line);
  assert.strictEqual(m[1], m[2]);
  const r = await request(`http://127.0.0.1:${m[1]}/_admin/health`);
  assert.strictEqual(r.status, 200);
  const code = await new Promise((resolve) => { child.on('exit', (c) => resolve(c)); child.kill('SIGTERM'); });
  assert.strictEqual(code, 0);
  assert.strictEqual(out, line, 'nothing else on stdout');
});

test('with-server.sh exports the environment and returns the command status; parallel instances', async () => {
  const script = path.join(__dirname, '..', 'with-server.sh');
  const run = () => new Promise((resolve) => {
    execFile(script, ['--', 'bash', '-c', 'echo "$RW_TEST_SERVER $WANDB_BASE_URL $WANDB_API_KEY $WANDB_ENTITY $NETRC"; curl -s -o /dev/null -w "%{http_code}" -u "api:$WANDB_API_KEY" "$WANDB_BASE_URL/graphql" -d "{\\"query\\":\\"{viewer{id}}\\"}"; exit 7'],
      (err, stdout) => resolve({ code: err ? err.code : 0, stdout }));
  });
  const results = await Promise.all([run(), run(), run()]);
  const urls = new Set();
  for (const r of results) {
    assert.strictEqual(r.code, 7);
    const [url, base, key, entity, netrc] = r.stdout.split('\n')[0].split(' ');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.strictEqual(base, url);
    assert.strictEqual(key, KEY);
    assert.strictEqual(entity, 'rw-team');
    assert.strictEqual(netrc, '/nonexistent');
    assert.ok(r.stdout.endsWith('200'), r.stdout);
    urls.add(url);
  }
  assert.strictEqual(urls.size, 3);
});
