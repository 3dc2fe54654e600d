// Runs listing: Mongo-style filters (each operator), order by columns/config/summary keys, cursor paging over 10,000 runs.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { withServer, allRuns, RUNS_QUERY } = require('./helpers');
const { compileFilter, parseOrder, compareEntries } = require('../filters');

let env;
test.before(async () => { env = await withServer(); });
test.after(() => env.close());

const names = async (filters, order = '+created_at', project = 'vision') => (await allRuns(env.client, { filters, order, project })).names;

// ---- unit level: compileFilter over hand-made runs

function fakeRun(seq, o) {
  return { seq, name: `run${seq}`, displayName: `r${seq}`, state: 'finished', tags: [], user: { username: 'ada' },
    createdAt: `2024-01-0${seq}T00:00:00`, heartbeatAt: null, config: '{}', summaryMetrics: '{}', ...o };
}

test('filter operators (unit)', () => {
  const runs = [
    fakeRun(1, { config: '{"lr": {"value": 0.1}, "opt": {"value": {"name": "adam", "betas": [0.9, 0.99]}}}', summaryMetrics: '{"loss": NaN, "acc": 0.5, "val": {"loss": 1}}', tags: ['a', 'b'] }),
    fakeRun(2, { config: '{"lr": {"value": 0.01, "desc": null}, "opt": {"value": {"name": "sgd"}}}', summaryMetrics: '{"loss": 0.3, "acc": 0.9, "big": 9007199254740993}', tags: ['b'], state: 'running' }),
    fakeRun(3, { config: '{"lr": 0.001}', summaryMetrics: '{"loss": Infinity, "name": "résumé-β"}', tags: [], group: 'g1' }),
  ];
  const sel = (f) => runs.filter(compileFilter(JSON.stringify(f))).map((r) => r.seq);
  assert.deepStrictEqual(sel({}), [1, 2, 3]);
  assert.deepStrictEqual(sel({ state: 'running' }), [2]);
  assert.deepStrictEqual(sel({ state: { $eq: 'finished' } }), [1, 3]);
  assert.deepStrictEqual(sel({ state: { $ne: 'finished' } }), [2]);
  assert.deepStrictEqual(sel({ 'config.lr': { $gt: 0.005 } }), [1, 2]);
  assert.deepStrictEqual(sel({ 'config.lr.value': { $gte: 0.01 } }), [1, 2]);
  assert.deepStrictEqual(sel({ 'config.lr': { $lt: 0.01 } }), [3]);
  assert.deepStrictEqual(sel({ 'config.lr': { $lte: 0.01 } }), [2, 3]);
  assert.deepStrictEqual(sel({ 'config.opt.name': 'adam' }), [1]);
  assert.deepStrictEqual(sel({ 'config.opt.value.name': { $in: ['sgd', 'x'] } }), [2]);
  assert.deepStrictEqual(sel({ 'config.opt.betas': 0.99 }), [1]);
  assert.deepStrictEqual(sel({ 'config.opt.name': { $nin: ['sgd'] } }), [1, 3]);
  assert.deepStrictEqual(sel({ 'config.opt': { $exists: false } }), [3]);
  assert.deepStrictEqual(sel({ 'summary_metrics.val.loss': { $exists: true } }), [1]);
  assert.deepStrictEqual(sel({ 'summary_metrics.loss': { $gt: 0 } }), [2, 3], 'NaN never compares; Infinity does');
  assert.deepStrictEqual(sel({ 'summary_metrics.big': { $gt: 9007199254740991 } }), [2]);
  assert.deepStrictEqual(sel({ 'summary_metrics.name': { $regex: '^rés' } }), [3]);
  assert.deepStrictEqual(sel({ displayName: { $regex: 'R[12]', $options: 'i' } }), [1, 2]);
  assert.deepStrictEqual(sel({ display_name: { $not: { $regex: 'r1' } } }), [2, 3]);
  assert.deepStrictEqual(sel({ tags: 'b' }), [1, 2]);
  assert.deepStrictEqual(sel({ tags: { $in: ['a'] } }), [1]);
  assert.deepStrictEqual(sel({ tags: { $nin: ['b'] } }), [3]);
  assert.deepStrictEqual(sel({ tags: { $ne: 'b' } }), [3]);
  assert.deepStrictEqual(sel({ group: null }), [1, 2]);
  assert.deepStrictEqual(sel({ $or: [{ state: 'running' }, { group: 'g1' }] }), [2, 3]);
  assert.deepStrictEqual(sel({ $and: [{ tags: 'b' }, { 'summary_metrics.acc': { $gte: 0.5 } }] }), [1, 2]);
  assert.deepStrictEqual(sel({ $nor: [{ state: 'running' }, { group: 'g1' }] }), [1]);
  assert.deepStrictEqual(sel({ $not: { state: 'running' } }), [1, 3]);
  assert.deepStrictEqual(sel({ tags: 'b', state: 'finished' }), [1], 'implicit AND');
  assert.deepStrictEqual(sel({ createdAt: { $gte: '2024-01-02T00:00:00Z' } }), [2, 3]);
  assert.deepStrictEqual(sel({ created_at: { $lt: '2024-01-02' } }), [1]);
  assert.deepStrictEqual(sel({ username: 'ada' }), [1, 2, 3]);
  assert.deepStrictEqual(sel({ 'config.lr': '0.1' }), [], 'type-bracketed: a string never equals a number');
  assert.throws(() => compileFilter('{"state": {"$foo": 1}}'), /unknown filter operator \$foo/);
  assert.throws(() => compileFilter('{"$xor": []}'), /unknown filter operator \$xor/);
  assert.throws(() => compileFilter('{"state": '), /invalid filters JSON/);
});

test('order helper: missing keys sort last both ways; ties by id', () => {
  const runs = [fakeRun(1, { summaryMetrics: '{"a": 2}' }), fakeRun(2, { summaryMetrics: '{}' }), fakeRun(3, { summaryMetrics: '{"a": 1}' }), fakeRun(4, { summaryMetrics: '{"a": 2}' })];
  const sorted = (o) => {
    const ord = parseOrder(o);
    return runs.map((r) => ({ k: ord.sortKey(r), seq: r.seq })).sort((a, b) => compareEntries(ord, a, b)).map((e) => e.seq);
  };
  assert.deepStrictEqual(sorted('+summary_metrics.a'), [3, 1, 4, 2]);
  assert.deepStrictEqual(sorted('-summary_metrics.a'), [4, 1, 3, 2]);
  assert.deepStrictEqual(sorted('summary_metrics.a'), [3, 1, 4, 2]);
});

// ---- through GraphQL on the default fixtures

test('filters over GraphQL on the fixtures', async () => {
  assert.deepStrictEqual((await names({ state: 'running' })).sort(), ['c9r0f1v2', 's5x6e7d8', 't3g4b5y6', 'u3i4o5p6', 'x7k2m9p4']);
  assert.deepStrictEqual(await names({ sweep: 'k2l9mx0q' }), ['a7s8d9f0', 'g1h2j3k4', 'l5z6x7c8']);
  assert.deepStrictEqual(await names({ $and: [{ sweep: 'sw3ep9ab' }, { state: 'finished' }] }), ['j7k8l9z0', 'x1c2v3b4', 'n5m6q7w8']);
  assert.deepStrictEqual(await names({ displayName: 'résumé-β' }), ['r2d2c3po']);
  assert.deepStrictEqual(await names({ 'config.experiment_name': 'foo', 'config.model.arch': 'resnet18' }), ['abc123xy', 'v9b0n1m2']);
  assert.deepStrictEqual(await names({ $or: [{ 'config.experiment_name': 'foo' }, { 'config.experiment_name': 'bar' }] }, '+created_at', 'nlp'), []);
  assert.deepStrictEqual(await names({ 'summary_metrics.val.acc': { $gt: 0.8 } }), ['abc123xy']);
  assert.deepStrictEqual(await names({ jobType: 'eval', tags: 'reviewed' }), ['b7c8d9e0']);
  assert.deepStrictEqual(await names({ job_type: null }), ['m1k2i3o4']);
  assert.deepStrictEqual(await names({ host: { $regex: '^gpu-node-0[12]$' }, state: 'crashed' }), []);
  assert.deepStrictEqual(await names({ username: 'grace', state: { $in: ['failed', 'running'] } }).then((x) => x.sort()), ['o9p0a1s2', 't3g4b5y6', 'x7k2m9p4']);
  assert.deepStrictEqual(await names({ duration: { $gt: 390 } }), ['v9b0n1m2']);
});

test('an unknown operator is a GraphQL error naming it', async () => {
  const r = await env.client.gql(RUNS_QUERY, { entity: 'rw-team', project: 'vision', filters: '{"state": {"$near": 1}}' });
  assert.strictEqual(r.status, 200);
  assert.match(r.errors[0].message, /unknown filter operator \$near/);
  assert.strictEqual(r.data.project, null);
});

test('order by columns, config and summary keys', async () => {
  const created = await names({}, '+created_at');
  assert.strictEqual(created.length, 30);
  assert.strictEqual(created[0], 'abc123xy');
  const desc = await names({}, '-created_at');
  // ties (same createdAt) break by id in the order's direction, so descending is the exact reverse
  assert.deepStrictEqual(desc, [...created].reverse());
  const byLr = await names({ sweep: 'sw3ep9ab' }, '+config.lr.value');
  assert.deepStrictEqual(byLr, ['u3i4o5p6', 'e9r0t1y2', 'n5m6q7w8', 'x1c2v3b4', 'j7k8l9z0']);
  assert.deepStrictEqual(await names({ sweep: 'sw3ep9ab' }, '-config.lr'), [...byLr].reverse());
  const byAcc = await names({}, '-summary_metrics.best_val_acc');
  assert.strictEqual(byAcc[byAcc.length - 1], 'm1k2i3o4', 'the pending run has no summary: last');
  const byName = await names({}, 'display_name');
  assert.strictEqual(byName[0], 't3g4b5y6', 'NaN-watch-22: upper case first');
  assert.strictEqual(byName[byName.length - 1], 'x7k2m9p4', '训练-🚀 last');
  const hb = await names({ state: 'running' }, '-heartbeat_at');
  assert.strictEqual(hb.length, 5);
});

test('paging 10,000 generated runs: no duplicate or missing run, also with inserts/changes between pages', async () => {
  const g = await env.client.admin('POST', 'generate', { entity: 'rw-team', project: 'bench', runs: 10000, running: 100, steps: 3, seed: 7 });
  assert.strictEqual(g.runs, 10000);
  const all = await allRuns(env.client, { project: 'bench', perPage: 1000 });
  assert.strictEqual(all.count, 10000);
  assert.strictEqual(all.names.length, 10000);
  assert.deepStrictEqual(new Set(all.names), new Set(g.names));

  const byAcc = await allRuns(env.client, { project: 'bench', perPage: 999, order: '-summary_metrics.acc' });
  assert.strictEqual(byAcc.names.length, 10000);
  assert.strictEqual(new Set(byAcc.names).size, 10000);

  // keyset cursors: runs added and running runs changed between pages do not shift the pages
  const seen = [];
  let cursor = null;
  let page = 0;
  for (;;) {
    const r = await env.client.gql(RUNS_QUERY, { entity: 'rw-team', project: 'bench', filters: '{}', order: '-created_at', perPage: 700, cursor });
    const p = r.data.project.runs;
    seen.push(...p.edges.map((e) => e.node.name));
    if (page++ < 3) {
      await env.client.admin('POST', 'generate', { entity: 'rw-team', project: 'bench', runs: 3, seed: 99 + page, start: '2024-03-05T00:00:00Z' });
      await env.client.admin('POST', 'simulate', { steps: 1 });
    }
    if (!p.pageInfo.hasNextPage) break;
    cursor = p.edges[p.edges.length - 1].cursor;
  }
  assert.strictEqual(new Set(seen).size, seen.length, 'no duplicates');
  const seenSet = new Set(seen);
  assert.deepStrictEqual(g.names.filter((n) => !seenSet.has(n)), [], 'no original run missing');
});

test('first is capped at 1000 and runCount honours filters', async () => {
  const r = await env.client.gql(RUNS_QUERY, { entity: 'rw-team', project: 'bench', filters: '{"state": "running"}', perPage: 5000 });
  assert.strictEqual(r.data.project.runCount, 100);
  const big = await env.client.gql(RUNS_QUERY, { entity: 'rw-team', project: 'bench', filters: '{}', perPage: 5000 });
  assert.strictEqual(big.data.project.runs.edges.length, 1000);
  assert.strictEqual(big.data.project.runs.pageInfo.hasNextPage, true);
});
