// Run data: verbatim config/summary round trips through upsertBucket, run creation/deletion, alerts, history and sampledHistory.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { withServer } = require('./helpers');
const tjson = require('../tjson');

let env;
test.before(async () => { env = await withServer(); });
test.after(() => env.close());

// Appendix A texts (printed by graphql-core) used by the SDK
const RUN_Q = `query Run($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) {
      projectId
      ...RunFragment
    }
  }
}

fragment RunFragment on Run {
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
const UPDATE_Q = `mutation UpsertBucket($id: String!, $description: String, $display_name: String, $notes: String, $tags: [String!], $config: JSONString!, $groupName: String, $jobType: String) {
  upsertBucket(input: {id: $id, description: $description, displayName: $display_name, notes: $notes, tags: $tags, config: $config, groupName: $groupName, jobType: $jobType}) {
    bucket {
      id
      tags
      notes
      group
      config
    }
  }
}
`;
const SUMMARY_Q = `mutation UpsertBucket($id: String, $summaryMetrics: JSONString) {
  upsertBucket(input: {id: $id, summaryMetrics: $summaryMetrics}) {
    bucket {
      id
    }
  }
}
`;
const vars = (name, project = 'vision') => ({ entity: 'rw-team', project, name });

test('Run query returns the stored strings verbatim', async () => {
  const fx = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'default.json'), 'utf8'));
  const stored = fx.projects[0].runs.find((r) => r.name === 'r2d2c3po');
  const r = await env.client.gql(RUN_Q, vars('r2d2c3po'));
  const run = r.data.project.run;
  assert.strictEqual(run.config, stored.config);
  assert.strictEqual(run.summaryMetrics, stored.summaryMetrics);
  assert.match(run.summaryMetrics, /"weird":NaN/);
  assert.match(run.summaryMetrics, /"grad_norm":Infinity/);
  assert.strictEqual(run.displayName, 'résumé-β');
  assert.strictEqual(run.historyKeys.lastStep, 29);
  assert.deepStrictEqual(run.historyKeys.keys.val_loss, { typeCounts: [{ type: 'number', count: 6 }] });
  assert.strictEqual(typeof run.projectId, 'number');
  assert.match(run.commit, /^[0-9a-f]{40}$/);
  const sys = tjson.parse(run.systemMetrics);
  assert.ok(typeof sys['system.cpu'] === 'number');
  const first = await env.client.gql(RUN_Q, vars('abc123xy'));
  assert.strictEqual(first.data.project.run.id, 'UnVuOjE=');
  assert.match(first.data.project.run.summaryMetrics, /"big": 9007199254740993/);
  assert.match(first.data.project.run.summaryMetrics, /"tiny": 1\.2345678901234567e-7/);
  const none = await env.client.gql(RUN_Q, vars('zzzzzzzz'));
  assert.deepStrictEqual(none.data, { project: { run: null } });
});

test('upsertBucket keeps config and summary strings byte for byte, replaces tags, null clears', async () => {
  const before = await env.client.admin('GET', 'run/rw-team/vision/abc123xy');
  const config = before.config.replace('"lr": {"value": 0.01', '"lr": {"value": 0.02');
  assert.notStrictEqual(config, before.config);
  const upd = await env.client.gql(UPDATE_Q, {
    entity: 'rw-team', project: 'vision', name: 'abc123xy', id: before.id, tags: ['baseline', 'reviewed'],
    description: before.description, notes: null, display_name: before.displayName, config, groupName: null, jobType: 'train',
  });
  assert.strictEqual(upd.errors, undefined, JSON.stringify(upd.errors));
  assert.strictEqual(upd.data.upsertBucket.bucket.config, config);
  const summary = '{"_step":29,"big":9007199254740993,"tiny":1.2345678901234567e-7,"loss":NaN,"x":-Infinity,"s":"é\\u00e9","checked":true}';
  const s = await env.client.gql(SUMMARY_Q, { id: before.id, summaryMetrics: summary });
  assert.deepStrictEqual(s.data, { upsertBucket: { bucket: { id: before.id } } });
  const after = await env.client.admin('GET', 'run/rw-team/vision/abc123xy');
  assert.strictEqual(after.config, config);
  assert.strictEqual(after.summaryMetrics, summary);
  assert.deepStrictEqual(after.tags, ['baseline', 'reviewed']);
  assert.strictEqual(after.notes, null, 'explicit null clears notes');
  assert.strictEqual(after.group, null, 'explicit null clears the group');
  assert.strictEqual(after.description, before.description);
  assert.ok(after.updatedAt > before.updatedAt);
  const r = await env.client.gql(RUN_Q, vars('abc123xy'));
  assert.strictEqual(r.data.project.run.summaryMetrics, summary);
});

test('upsertBucket rejects a config that is not a JSON object and a non-string JSONString', async () => {
  const before = await env.client.admin('GET', 'run/rw-team/nlp/bert0002');
  const bad = await env.client.gql(UPDATE_Q, { id: before.id, config: '{"lr": ' });
  assert.match(bad.errors[0].message, /invalid config/);
  const notString = await env.client.gql(SUMMARY_Q, { id: before.id, summaryMetrics: { a: 1 } });
  assert.match(notString.errors[0].message, /JSONString must be a string/);
  const unknown = await env.client.gql(SUMMARY_Q, { id: 'UnVuOjk5OTk5', summaryMetrics: '{}' });
  assert.match(unknown.errors[0].message, /not found/);
  const after = await env.client.admin('GET', 'run/rw-team/nlp/bert0002');
  assert.strictEqual(after.config, before.config);
});

test('create_run (upsertBucket with name), then DeleteRun', async () => {
  const q = `mutation UpsertBucket($project: String, $entity: String, $name: String!, $state: String) {
  upsertBucket(input: {modelName: $project, entityName: $entity, name: $name, state: $state}) {
    bucket { project { name entity { name } } id name }
    inserted
  }
}`;
  const c = await env.client.gql(q, { project: 'fresh', entity: 'rw-team', name: 'newrun01', state: 'pending' });
  assert.strictEqual(c.data.upsertBucket.inserted, true);
  assert.deepStrictEqual(c.data.upsertBucket.bucket.project, { name: 'fresh', entity: { name: 'rw-team' } });
  const again = await env.client.gql(q, { project: 'fresh', entity: 'rw-team', name: 'newrun01' });
  assert.strictEqual(again.data.upsertBucket.inserted, false);
  assert.strictEqual(again.data.upsertBucket.bucket.id, c.data.upsertBucket.bucket.id);
  const del = await env.client.gql('mutation DeleteRun($id: ID!, $deleteArtifacts: Boolean) { deleteRun(input: {id: $id, deleteArtifacts: $deleteArtifacts}) { clientMutationId } }',
    { id: c.data.upsertBucket.bucket.id, deleteArtifacts: false });
  assert.deepStrictEqual(del.data, { deleteRun: { clientMutationId: null } });
  const gone = await env.client.gql(RUN_Q, vars('newrun01', 'fresh'));
  assert.strictEqual(gone.data.project.run, null);
});

test('notifyScriptableRunAlert is recorded', async () => {
  await env.client.admin('DELETE', 'alerts');
  const q = `mutation NotifyScriptableRunAlert($entityName: String!, $projectName: String!, $runName: String!, $title: String!, $text: String!, $severity: AlertSeverity = INFO, $waitDuration: Duration) {
  notifyScriptableRunAlert(input: {entityName: $entityName, projectName: $projectName, runName: $runName, title: $title, text: $text, severity: $severity, waitDuration: $waitDuration}) {
    success
  }
}`;
  const r = await env.client.gql(q, { entityName: 'rw-team', projectName: 'vision', runName: 't3g4b5y6', title: 'Loss is NaN', text: 'step 15', severity: 'WARN', waitDuration: 60000 });
  assert.deepStrictEqual(r.data, { notifyScriptableRunAlert: { success: true } });
  await env.client.gql(q, { entityName: 'rw-team', projectName: 'vision', runName: 't3g4b5y6', title: 'x', text: 'y' });
  const bad = await env.client.gql(q, { entityName: 'rw-team', projectName: 'vision', runName: 'a', title: 'x', text: 'y', severity: 'LOUD' });
  assert.ok(bad.errors);
  const alerts = await env.client.admin('GET', 'alerts');
  assert.strictEqual(alerts.length, 2);
  assert.deepStrictEqual({ ...alerts[0], time: undefined }, { entityName: 'rw-team', projectName: 'vision', runName: 't3g4b5y6', title: 'Loss is NaN', text: 'step 15', severity: 'WARN', waitDuration: 60000, time: undefined });
  assert.strictEqual(alerts[1].severity, 'INFO');
  assert.strictEqual(alerts[1].waitDuration, null);
});

const HISTORY_PAGE = `query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!, $maxStep: Int64!, $pageSize: Int!) {
  project(name: $project, entityName: $entity) { run(name: $run) { history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize) } } }`;
const SAMPLED_PAGE = `query SampledHistoryPage($entity: String!, $project: String!, $run: String!, $spec: JSONString!) {
  project(name: $project, entityName: $entity) { run(name: $run) { sampledHistory(specs: [$spec]) } } }`;
const steps = (rows) => rows.map((r) => tjson.parse(r)._step);

test('history: range is [minStep, maxStep) and at most samples rows; unranged is downsampled keeping ends', async () => {
  const page = await env.client.gql(HISTORY_PAGE, { entity: 'rw-team', project: 'vision', run: 'v9b0n1m2', minStep: 10, maxStep: 20, pageSize: 1000 });
  assert.deepStrictEqual(steps(page.data.project.run.history), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  const small = await env.client.gql(HISTORY_PAGE, { entity: 'rw-team', project: 'vision', run: 'v9b0n1m2', minStep: '10', maxStep: 20, pageSize: 3 });
  assert.deepStrictEqual(steps(small.data.project.run.history), [10, 11, 12], 'Int64 accepts numeric strings');
  const full = await env.client.gql(`query RunFullHistory($project: String!, $entity: String!, $name: String!, $samples: Int) {
    project(name: $project, entityName: $entity) { run(name: $name) { history(samples: $samples) events(samples: $samples) } } }`,
  { ...vars('v9b0n1m2'), samples: 5 });
  const st = steps(full.data.project.run.history);
  assert.strictEqual(st.length, 5);
  assert.strictEqual(st[0], 0);
  assert.strictEqual(st[4], 39);
  assert.strictEqual(full.data.project.run.events.length, 5);
  assert.ok('system.cpu' in tjson.parse(full.data.project.run.events[0]));
  const nan = await env.client.gql(HISTORY_PAGE, { entity: 'rw-team', project: 'vision', run: 't3g4b5y6', minStep: 15, maxStep: 16, pageSize: 10 });
  assert.match(nan.data.project.run.history[0], /"loss": NaN/);
});

test('sampledHistory: maxStep inclusive, only rows with every requested key, only those keys', async () => {
  const spec = JSON.stringify({ keys: ['_step', 'val_loss'], minStep: 0, maxStep: 10, samples: 100 });
  const r = await env.client.gql(SAMPLED_PAGE, { entity: 'rw-team', project: 'vision', run: 'abc123xy', spec });
  const rows = r.data.project.run.sampledHistory[0];
  assert.deepStrictEqual(rows.map((x) => x._step), [0, 5, 10], 'step 10 included (inclusive); rows without val_loss skipped');
  assert.deepStrictEqual(Object.keys(rows[0]), ['_step', 'val_loss']);
  const loss = await env.client.gql(SAMPLED_PAGE, { entity: 'rw-team', project: 'vision', run: 'abc123xy', spec: JSON.stringify({ keys: ['loss'], samples: 500 }) });
  assert.strictEqual(loss.data.project.run.sampledHistory[0].length, 30);
  assert.deepStrictEqual(Object.keys(loss.data.project.run.sampledHistory[0][0]), ['loss']);
  const multi = await env.client.gql(`query RunSampledHistory($project: String!, $entity: String!, $name: String!, $specs: [JSONString!]!) {
    project(name: $project, entityName: $entity) { run(name: $name) { sampledHistory(specs: $specs) } } }`,
  { ...vars('abc123xy'), specs: [JSON.stringify({ keys: ['_step', 'loss'], samples: 4 }), JSON.stringify({ keys: ['nope'], samples: 4 })] });
  const [a, b] = multi.data.project.run.sampledHistory;
  assert.deepStrictEqual(a.map((x) => x._step), [0, 10, 19, 29]);
  assert.deepStrictEqual(b, []);
  const bad = await env.client.gql(SAMPLED_PAGE, { entity: 'rw-team', project: 'vision', run: 'abc123xy', spec: '{"samples": 3}' });
  assert.match(bad.errors[0].message, /keys/);
});

test('generated runs: 100 runs x 10,000 steps stay lazy and answer history pages', async () => {
  const g = await env.client.admin('POST', 'generate', { entity: 'rw-team', project: 'long', runs: 100, running: 10, steps: 10000, keys: ['loss', 'acc', 'lr', 'gpu_util'], seed: 3 });
  assert.strictEqual(g.runs, 100);
  const name = g.names[42];
  const keys = await env.client.gql(`query RunHistoryKeys($project: String!, $entity: String!, $name: String!) { project(name: $project, entityName: $entity) { run(name: $name) { historyKeys historyLineCount } } }`, vars(name, 'long'));
  assert.strictEqual(keys.data.project.run.historyKeys.lastStep, 9999);
  assert.strictEqual(keys.data.project.run.historyLineCount, 10000);
  const page = await env.client.gql(HISTORY_PAGE, { entity: 'rw-team', project: 'long', run: name, minStep: 9000, maxStep: 10000, pageSize: 1000 });
  assert.strictEqual(page.data.project.run.history.length, 1000);
  const row = tjson.parse(page.data.project.run.history[999]);
  assert.strictEqual(row._step, 9999);
  assert.ok(['loss', 'acc', 'lr', 'gpu_util'].every((k) => typeof row[k] === 'number'));
  const again = await env.client.gql(HISTORY_PAGE, { entity: 'rw-team', project: 'long', run: name, minStep: 9999, maxStep: 10000, pageSize: 1 });
  assert.strictEqual(again.data.project.run.history[0], page.data.project.run.history[999], 'rows are deterministic');
  const summary = tjson.parse((await env.client.admin('GET', `run/rw-team/long/${name}`)).summaryMetrics);
  assert.strictEqual(summary._step, 9999);
  assert.strictEqual(summary.loss, row.loss);
});

test('files: listing, names, LIKE pattern, paging, download and redirect to /storage', async () => {
  const q = `query RunFiles($project: String!, $entity: String!, $name: String!, $fileCursor: String, $fileLimit: Int = 50, $fileNames: [String] = [], $upload: Boolean = false, $pattern: String) {
  project(name: $project, entityName: $entity) {
    internalId
    run(name: $name) {
      fileCount
      files(names: $fileNames, after: $fileCursor, first: $fileLimit, pattern: $pattern) {
        edges { node { id name url(upload: $upload) directUrl sizeBytes mimetype updatedAt md5 } cursor }
        pageInfo { endCursor hasNextPage }
      }
    }
  }
}`;
  const all = await env.client.gql(q, { ...vars('r2d2c3po'), fileNames: [], upload: false, pattern: null, fileLimit: 50, fileCursor: null });
  const run = all.data.project.run;
  assert.strictEqual(run.fileCount, 6);
  assert.deepStrictEqual(run.files.edges.map((e) => e.node.name), ['config.yaml', 'diff.patch', 'media/images/sample_0.png', 'output.log', 'requirements.txt', 'wandb-metadata.json']);
  const meta = await env.client.gql(q, { ...vars('r2d2c3po'), fileNames: ['wandb-metadata.json'] });
  const node = meta.data.project.run.files.edges[0].node;
  assert.strictEqual(node.url, `${env.server.url}/files/rw-team/vision/r2d2c3po/wandb-metadata.json`);
  assert.match(node.directUrl, new RegExp(`^http://localhost:${env.server.port}/storage/[0-9a-f]+$`));
  const like = await env.client.gql(q, { ...vars('r2d2c3po'), pattern: '%.json' });
  assert.deepStrictEqual(like.data.project.run.files.edges.map((e) => e.node.name), ['wandb-metadata.json']);
  const like2 = await env.client.gql(q, { ...vars('r2d2c3po'), pattern: 'output.lo_' });
  assert.strictEqual(like2.data.project.run.files.edges.length, 1);
  const p1 = await env.client.gql(q, { ...vars('r2d2c3po'), fileLimit: 4 });
  assert.strictEqual(p1.data.project.run.files.pageInfo.hasNextPage, true);
  const p2 = await env.client.gql(q, { ...vars('r2d2c3po'), fileLimit: 4, fileCursor: p1.data.project.run.files.edges[3].cursor });
  assert.deepStrictEqual(p2.data.project.run.files.edges.map((e) => e.node.name), ['requirements.txt', 'wandb-metadata.json']);
  assert.strictEqual(p2.data.project.run.files.pageInfo.hasNextPage, false);

  const { request, authHeader } = require('./helpers');
  const noauth = await request(node.url);
  assert.strictEqual(noauth.status, 401);
  const dl = await request(node.url, { headers: { Authorization: authHeader() } });
  assert.strictEqual(dl.status, 200);
  const md = JSON.parse(dl.body.toString());
  assert.strictEqual(md.git.remote, 'https://github.com/rw-team/vision.git');
  assert.match(md.git.commit, /^[0-9a-f]{40}$/);
  assert.strictEqual(dl.body.length, node.sizeBytes);
  assert.strictEqual(require('crypto').createHash('md5').update(dl.body).digest('base64'), node.md5);

  await env.client.admin('POST', 'files', { redirect: true });
  const red = await request(node.url, { headers: { Authorization: authHeader() } });
  assert.strictEqual(red.status, 302);
  assert.strictEqual(red.headers.location, node.directUrl);
  const st = await request(red.headers.location);
  assert.strictEqual(st.status, 200);
  assert.deepStrictEqual(st.body, dl.body);
  await request(red.headers.location, { headers: { Authorization: authHeader() } });
  await env.client.admin('POST', 'files', { redirect: false });
  const log = (await env.client.admin('GET', 'requests?path=/storage/')).slice(-2);
  assert.deepStrictEqual(log.map((e) => e.auth_header), [false, true]);
  const png = await env.client.gql(q, { ...vars('r2d2c3po'), fileNames: ['media/images/sample_0.png'] });
  const img = await request(png.data.project.run.files.edges[0].node.url, { headers: { Authorization: authHeader() } });
  assert.strictEqual(img.headers['content-type'], 'image/png');
  assert.strictEqual(img.body.subarray(1, 4).toString(), 'PNG');
});
