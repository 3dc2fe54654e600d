// Shared helpers for the test server's own node:test suites: start a server, send GraphQL and admin requests.
'use strict';

const http = require('http');
const { startServer, DEFAULT_KEY } = require('../server');

const KEY = DEFAULT_KEY;

function authHeader(key = KEY) { return 'Basic ' + Buffer.from(`api:${key}`).toString('base64'); }

// Plain HTTP request; resolves { status, headers, body: Buffer } or rejects on socket errors.
function request(url, { method = 'GET', headers = {}, body = null, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('aborted')));
    });
    req.on('error', reject);
    if (body !== null) req.write(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    req.end();
  });
}

class Client {
  constructor(server) {
    this.server = server;
    this.url = server.url;
  }

  // POST /graphql; returns the parsed response body (and .status)
  async gql(query, variables = {}, { key = KEY, headers = {}, operationName } = {}) {
    const body = { query, variables };
    if (operationName !== undefined) body.operationName = operationName;
    const h = { 'Content-Type': 'application/json', ...headers };
    if (key) h.Authorization = authHeader(key);
    const res = await request(this.url + '/graphql', { method: 'POST', headers: h, body });
    const out = JSON.parse(res.body.toString('utf8'));
    Object.defineProperty(out, 'status', { value: res.status });
    return out;
  }

  async admin(method, path, body) {
    const res = await request(this.url + '/_admin/' + path, {
      method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, body: body === undefined ? null : body,
    });
    const text = res.body.toString('utf8');
    if (res.status !== 200) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  }
}

async function withServer(opts = {}) {
  const server = await startServer({ port: 0, ...opts });
  return { server, client: new Client(server), close: () => server.stop() };
}

const RUNS_QUERY = `query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String, $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    internalId
    runCount(filters: $filters)
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { id name displayName state tags } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}`;

// All run names for a filter/order, following cursors like the SDK (last edge's cursor).
async function allRuns(client, { entity = 'rw-team', project = 'vision', filters = {}, order = '+created_at', perPage = 50 } = {}) {
  const names = [];
  let cursor = null;
  let count = null;
  for (;;) {
    const r = await client.gql(RUNS_QUERY, { entity, project, filters: JSON.stringify(filters), order, perPage, cursor });
    if (r.errors) throw new Error(r.errors[0].message);
    const p = r.data.project;
    count = p.runCount;
    for (const e of p.runs.edges) names.push(e.node.name);
    if (!p.runs.pageInfo.hasNextPage) break;
    cursor = p.runs.edges[p.runs.edges.length - 1].cursor;
  }
  return { names, count };
}

module.exports = { KEY, authHeader, request, Client, withServer, RUNS_QUERY, allRuns };
