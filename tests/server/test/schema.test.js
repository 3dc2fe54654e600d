// Every Appendix A query of wandb-public-api.md (and the extension queries) validates against the served schema.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { parse, validate } = require('graphql');
const { schema } = require('../schema');
const { withServer } = require('./helpers');

// The reference sits in ../shared beside the repository (read-only input, not copied).
const REF = [
  path.resolve(__dirname, '../../../../shared/reference/wandb-public-api.md'),
  path.resolve(__dirname, '../../../shared/reference/wandb-public-api.md'),
].find((p) => fs.existsSync(p));

function appendixA(md) {
  const start = md.indexOf('## Appendix A');
  const end = md.indexOf('## Appendix B');
  assert.ok(start >= 0 && end > start, 'Appendix A and B headings exist');
  const part = md.slice(start, end);
  const out = [];
  const re = /^### (.+)\n```graphql\n([\s\S]*?)```/gm;
  let m;
  while ((m = re.exec(part))) out.push({ title: m[1], query: m[2] });
  return out;
}

function errorsOf(query) { return validate(schema, parse(query)).map((e) => e.message); }

test('every Appendix A query validates', { skip: !REF && 'shared/reference not found' }, () => {
  const queries = appendixA(fs.readFileSync(REF, 'utf8'));
  assert.ok(queries.length >= 19, `found ${queries.length} queries`);
  for (const { title, query } of queries) assert.deepStrictEqual(errorsOf(query), [], title);
});

test('extension queries validate (Projects, DeleteRun, GetSweeps, UpdateRunState)', () => {
  const queries = [
    `query Projects($entity: String, $cursor: String, $perPage: Int = 50) {
      models(entityName: $entity, after: $cursor, first: $perPage) {
        edges { node { ...ProjectFragment } cursor }
        pageInfo { endCursor hasNextPage }
      }
    }
    fragment ProjectFragment on Project { id name entityName createdAt isBenchmark }`,
    `mutation DeleteRun($id: ID!, $deleteArtifacts: Boolean) {
      deleteRun(input: {id: $id, deleteArtifacts: $deleteArtifacts}) { clientMutationId }
    }`,
    `query GetSweeps($project: String!, $entity: String!) {
      project(name: $project, entityName: $entity) {
        totalSweeps
        sweeps { edges { node { id name state config runCount } cursor } pageInfo { endCursor hasNextPage } }
      }
    }`,
    `mutation UpdateRunState($input: UpdateRunStateInput!) { updateRunState(input: $input) { success } }`,
    `query R($e: String!, $p: String!, $n: String!) { project(name: $p, entityName: $e) { run(name: $n) { updatedAt runtime host } } }`,
  ];
  for (const q of queries) assert.deepStrictEqual(errorsOf(q), [], q.slice(0, 40));
});

test('invalid queries do not validate', () => {
  assert.match(errorsOf('{ viewer { nope } }')[0], /Cannot query field "nope" on type "User"/);
  assert.match(errorsOf('query R($n: String) { project(name: "p") { run(name: $n) { id } } }')[0], /Variable "\$n" of type "String" used in position expecting type "String!"/);
  assert.match(errorsOf('{ project(name: "p") { runs(bogus: 1) { totalCount } } }')[0], /Unknown argument "bogus"/);
  assert.throws(() => parse('{ viewer { id '), /Syntax Error/);
});

// Variables for an Appendix A operation, from its variable definitions.
function varsFor(title, query, run) {
  const names = [...query.matchAll(/\$(\w+):/g)].map((m) => m[1]);
  const v = { entity: 'rw-team', project: 'vision', name: run.name, run: run.name, id: run.id, display_name: 'frog-1',
    tags: ['a'], config: run.config, summaryMetrics: run.summaryMetrics, description: null, notes: 'n', groupName: null, jobType: null,
    specs: [JSON.stringify({ keys: ['_step', 'loss'], samples: 10 })], spec: JSON.stringify({ keys: ['loss'], minStep: 0, maxStep: 9, samples: 10 }),
    samples: 10, minStep: 0, maxStep: 10, pageSize: 10, cursor: null, perPage: 5, order: '+created_at', filters: '{}',
    fileNames: ['wandb-metadata.json'], upload: false, pattern: null, fileLimit: 50, fileCursor: null,
    entityName: 'rw-team', projectName: 'vision', runName: run.name, title: 'T', text: 'x', severity: 'WARN', waitDuration: 1000, state: 'running' };
  if (/Sweep/.test(title)) v.name = 'sw3ep9ab';
  if (/Run\.create/.test(title)) v.name = 'created1';
  return Object.fromEntries(names.filter((n) => n in v).map((n) => [n, v[n]]));
}

test('every Appendix A query executes against the default fixtures without errors', { skip: !REF && 'shared/reference not found' }, async () => {
  const env = await withServer();
  try {
    const run = await env.client.admin('GET', 'run/rw-team/vision/abc123xy');
    for (const { title, query } of appendixA(fs.readFileSync(REF, 'utf8'))) {
      const r = await env.client.gql(query, varsFor(title, query, run));
      assert.strictEqual(r.errors, undefined, `${title}: ${JSON.stringify(r.errors)}`);
      const top = Object.values(r.data)[0];
      assert.ok(top, `${title}: ${JSON.stringify(r.data)}`);
      if (top.run !== undefined) assert.ok(top.run, `${title}: run found`);
    }
  } finally { await env.close(); }
});
