// The executable W&B GraphQL schema (reference subset + extensions), custom scalars and resolvers over the Store.
'use strict';

const fs = require('fs');
const path = require('path');
const { buildSchema, parse, validate, execute, Kind, valueFromASTUntyped, GraphQLError } = require('graphql');
const tjson = require('./tjson');
const { compileFilter, parseOrder, compareEntries, fieldValues } = require('./filters');
const { rowMembers, isoNow, b64 } = require('./data');
const artifacts = require('./artifacts');

const SDL = fs.readFileSync(path.join(__dirname, 'wandb-schema.graphql'), 'utf8') + '\n' +
  fs.readFileSync(path.join(__dirname, 'schema-extensions.graphql'), 'utf8');

const MAX_PAGE = 1000;

// ---------------------------------------------------------------- scalars

function intLike(kind, v) {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  throw new TypeError(`${kind} cannot represent ${JSON.stringify(v)}: expected an integer`);
}

const SCALARS = {
  JSONString: {
    serialize: (v) => (typeof v === 'string' ? v : tjson.stringify(v)),
    parseValue: (v) => {
      if (typeof v !== 'string') throw new TypeError('JSONString must be a string holding a JSON document');
      return v;
    },
    parseLiteral: (ast) => {
      if (ast.kind !== Kind.STRING) throw new TypeError('JSONString must be a string holding a JSON document');
      return ast.value;
    },
  },
  JSON: {
    serialize: (v) => v,
    parseValue: (v) => v,
    parseLiteral: (ast, vars) => valueFromASTUntyped(ast, vars),
  },
  Int64: {
    serialize: (v) => intLike('Int64', v),
    parseValue: (v) => intLike('Int64', v),
    parseLiteral: (ast) => {
      if (ast.kind !== Kind.INT && ast.kind !== Kind.STRING) throw new TypeError('Int64 must be an integer');
      return intLike('Int64', ast.value);
    },
  },
  Duration: {
    serialize: (v) => intLike('Duration', v),
    parseValue: (v) => intLike('Duration', v),
    parseLiteral: (ast) => {
      if (ast.kind !== Kind.INT) throw new TypeError('Duration must be an integer');
      return intLike('Duration', ast.value);
    },
  },
};

// ---------------------------------------------------------------- helpers

function userErr(msg) { return new GraphQLError(msg); }

function cursorOf(s) { return Buffer.from(s, 'utf8').toString('base64'); }

function uncursor(c, what) {
  try { return Buffer.from(String(c), 'base64').toString('utf8'); } catch (e) { throw userErr(`invalid ${what} cursor`); }
}

function pageSize(first, dflt = 50) {
  if (first === null || first === undefined) return dflt;
  if (first < 0) throw userErr('first must be non-negative');
  return Math.min(first, MAX_PAGE);
}

function entityObj(name) { return { id: b64(`Entity:${name}`), name, isTeam: true }; }

// Evenly spaced indices into [0, n), at most `samples`, keeping the first and the last.
function sampleIndices(n, samples) {
  if (samples === null || samples === undefined) samples = 500;
  if (samples <= 0 || n === 0) return [];
  if (n <= samples) return Array.from({ length: n }, (_, i) => i);
  if (samples === 1) return [n - 1];
  const out = [];
  for (let i = 0; i < samples; i++) out.push(Math.round((i * (n - 1)) / (samples - 1)));
  return out;
}

function subsetDoc(text, keys) {
  if (keys === null || keys === undefined) return text;
  const want = new Set(keys);
  let m;
  try { m = tjson.members(text); } catch (e) { return text; }
  return tjson.fromMembers(m.filter(([k]) => want.has(k)).map(([k, , raw]) => [k, raw]));
}

function checkDoc(text, what) {
  try { tjson.members(text); } catch (e) { throw userErr(`invalid ${what}: ${e.message}`); }
}

// ---------------------------------------------------------------- runs connection

// Filtered, ordered entries [{run, k, seq}] of a project, cached until the project changes.
function orderedRuns(proj, filters, order, extra) {
  const key = `${filters || ''}\u0000${order || ''}\u0000${extra ? extra.key : ''}`;
  let hit = proj.cache.get(key);
  if (hit) return hit;
  let pred;
  try { pred = compileFilter(filters); } catch (e) { throw userErr(e.message); }
  const ord = parseOrder(order);
  const list = [];
  for (const run of proj.runs) {
    if (extra && !extra.pred(run)) continue;
    if (!pred(run)) continue;
    list.push({ run, k: ord.sortKey(run), seq: run.seq });
  }
  list.sort((a, b) => compareEntries(ord, a, b));
  hit = { ord, list };
  if (proj.cache.size > 64) proj.cache.clear();
  proj.cache.set(key, hit);
  return hit;
}

function runCursor(e) { return cursorOf(tjson.stringify([e.k[0], e.k[1], e.seq])); }

// Runs cursors are keyset cursors (the entry's sort key), unless the store's cursorMode is
// 'offset': then a cursor is a position in the ordered list, as W&B's own paging behaves (runs
// created or reordered while a listing is paged shift the positions: the duplicate and missing
// runs reported against wandb.Api, wandb/wandb#6614 and #7666).
function runsConnection(proj, args, extra, mode) {
  const { ord, list } = orderedRuns(proj, args.filters, args.order, extra);
  let start = 0;
  if (mode === 'offset') {
    if (args.after) {
      let c;
      try { c = tjson.parse(uncursor(args.after, 'runs')); } catch (e) { throw userErr('invalid runs cursor'); }
      if (!Array.isArray(c) || c.length !== 2 || c[0] !== 'offset' || !Number.isInteger(c[1])) throw userErr('invalid runs cursor');
      start = c[1] + 1;
    }
    const n = pageSize(args.first);
    const page = list.slice(start, start + n);
    const edges = page.map((e, i) => ({ node: e.run, cursor: cursorOf(tjson.stringify(['offset', start + i])) }));
    return {
      totalCount: list.length,
      edges,
      pageInfo: {
        hasNextPage: start + page.length < list.length,
        hasPreviousPage: start > 0,
        startCursor: edges.length ? edges[0].cursor : null,
        endCursor: edges.length ? edges[edges.length - 1].cursor : null,
      },
    };
  }
  if (args.after) {
    let c;
    try { c = tjson.parse(uncursor(args.after, 'runs')); } catch (e) { throw userErr('invalid runs cursor'); }
    if (!Array.isArray(c) || c.length !== 3) throw userErr('invalid runs cursor');
    const probe = { k: [c[0], c[1]], seq: c[2] };
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareEntries(ord, list[mid], probe) <= 0) lo = mid + 1; else hi = mid;
    }
    start = lo;
  }
  const n = pageSize(args.first);
  const page = list.slice(start, start + n);
  const edges = page.map((e) => ({ node: e.run, cursor: runCursor(e) }));
  return {
    totalCount: list.length,
    edges,
    pageInfo: {
      hasNextPage: start + page.length < list.length,
      hasPreviousPage: start > 0,
      startCursor: edges.length ? edges[0].cursor : null,
      endCursor: edges.length ? edges[edges.length - 1].cursor : null,
    },
  };
}

// ---------------------------------------------------------------- history

function rowsInRange(h, minStep, maxStep, inclusiveMax) {
  const lo = minStep === null || minStep === undefined ? 0 : h.lowerBound(minStep);
  let hi = h.length;
  if (maxStep !== null && maxStep !== undefined) {
    hi = h.lowerBound(maxStep);
    if (inclusiveMax) while (hi < h.length && h.stepAt(hi) <= maxStep) hi++;
  }
  return [lo, Math.max(lo, hi)];
}

function historyTexts(h, { samples, minStep, maxStep }) {
  const ranged = (minStep !== null && minStep !== undefined) || (maxStep !== null && maxStep !== undefined);
  if (ranged) {
    const [lo, hi] = rowsInRange(h, minStep, maxStep, false);
    const n = samples === null || samples === undefined ? 500 : Math.max(0, samples);
    const out = [];
    for (let i = lo; i < hi && out.length < n; i++) out.push(h.row(i).text);
    return out;
  }
  return sampleIndices(h.length, samples).map((i) => h.row(i).text);
}

// A value of W&B's inline-JSON sampledHistory answer: NaN and ±Infinity cannot be written in
// JSON, so they come back as null (the full `history` rows are JSON strings and keep them).
function finiteOnly(raw) {
  if (raw === undefined || !/NaN|Infinity/.test(raw)) return raw;
  let v;
  try { v = tjson.parse(raw); } catch (e) { return raw; }
  const clean = (x) => {
    if (typeof x === 'number') return Number.isFinite(x) ? x : null;
    if (Array.isArray(x)) return x.map(clean);
    if (x && typeof x === 'object' && !(x instanceof tjson.RawJSON)) {
      const o = {};
      for (const [k, y] of Object.entries(x)) o[k] = clean(y);
      return o;
    }
    return x;
  };
  return tjson.stringify(clean(v));
}

function sampledSpec(h, specText) {
  let spec;
  try { spec = tjson.parse(specText); } catch (e) { throw userErr(`invalid sampledHistory spec: ${e.message}`); }
  if (!spec || typeof spec !== 'object' || !Array.isArray(spec.keys) || !spec.keys.every((k) => typeof k === 'string')) {
    throw userErr('sampledHistory spec needs "keys": [string, ...]');
  }
  const keys = spec.keys;
  const need = keys.filter((k) => k !== '_step');
  const [lo, hi] = rowsInRange(h, spec.minStep, spec.maxStep, true); // maxStep is inclusive here (as the backend)
  const rows = [];
  for (let i = lo; i < hi; i++) {
    const r = h.row(i);
    const m = new Map();
    for (const [k, , raw] of rowMembers(r)) m.set(k, raw);
    if (!need.every((k) => m.has(k))) continue;
    if (!m.has('_step')) m.set('_step', String(r.step));
    rows.push(tjson.fromMembers(keys.filter((k, j) => keys.indexOf(k) === j).map((k) => [k, finiteOnly(m.get(k))])));
  }
  const samples = spec.samples === undefined || spec.samples === null ? 500 : spec.samples;
  const picked = sampleIndices(rows.length, samples).map((i) => rows[i]);
  return new tjson.RawJSON('[' + picked.join(',') + ']');
}

function systemMetricsText(run) {
  if (run.systemMetrics !== null && run.systemMetrics !== undefined) return run.systemMetrics;
  const ev = run.events;
  if (run._sysCache && run._sysCache.len === ev.length) return run._sysCache.text;
  const latest = new Map();
  for (let i = 0; i < ev.length; i++) {
    for (const [k, , raw] of rowMembers(ev.row(i))) if (!k.startsWith('_')) latest.set(k, raw);
  }
  const text = tjson.fromMembers([...latest]);
  Object.defineProperty(run, '_sysCache', { value: { len: ev.length, text }, enumerable: false, writable: true, configurable: true });
  return text;
}

// ---------------------------------------------------------------- files

function likeToRegExp(pattern) {
  let re = '';
  for (const ch of pattern) {
    if (ch === '%') re += '.*';
    else if (ch === '_') re += '.';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$', 's');
}

function filesConnection(run, args) {
  let list = run.files;
  if (args.names && args.names.length) {
    const want = new Set(args.names);
    list = list.filter((f) => want.has(f.name));
  }
  if (args.pattern) {
    const re = likeToRegExp(args.pattern);
    list = list.filter((f) => re.test(f.name));
  }
  if (args.after) {
    const after = uncursor(args.after, 'files');
    list = list.filter((f) => f.name > after);
  }
  const n = pageSize(args.first);
  const page = list.slice(0, n);
  const edges = page.map((f) => ({ node: { file: f, run }, cursor: cursorOf(f.name) }));
  return {
    edges,
    pageInfo: {
      hasNextPage: list.length > page.length,
      hasPreviousPage: !!args.after,
      startCursor: edges.length ? edges[0].cursor : null,
      endCursor: edges.length ? edges[edges.length - 1].cursor : null,
    },
  };
}

function fileUrl(ctx, run, f) {
  const p = run.project;
  return `${ctx.baseUrl}/files/${[p.entity, p.name, run.name].map(encodeURIComponent).join('/')}/` +
    f.name.split('/').map(encodeURIComponent).join('/');
}

// ---------------------------------------------------------------- resolvers

function viewerObj(store) { return store.viewer; }

const resolvers = {
  Query: {
    viewer: (_, __, ctx) => viewerObj(ctx.store),
    project: (_, { name, entityName }, ctx) => (name ? ctx.store.project(entityName || ctx.store.viewer.entity, name) : null),
    model: (_, { name, entityName }, ctx) => (name ? ctx.store.project(entityName || ctx.store.viewer.entity, name) : null),
    models: (_, args, ctx) => {
      const entity = args.entityName || ctx.store.viewer.entity;
      let list = [...ctx.store.projects.values()].filter((p) => p.entity === entity)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (args.after) { const after = uncursor(args.after, 'projects'); list = list.filter((p) => p.name > after); }
      const n = pageSize(args.first);
      const page = list.slice(0, n);
      const edges = page.map((p) => ({ node: p, cursor: cursorOf(p.name) }));
      return { edges, pageInfo: { hasNextPage: list.length > n, hasPreviousPage: !!args.after,
        startCursor: edges.length ? edges[0].cursor : null, endCursor: edges.length ? edges[edges.length - 1].cursor : null } };
    },
    serverInfo: () => ({
      cliVersionInfo: { max_cli_version: '0.26.1', min_cli_version: '0.10.0' },
      latestLocalVersionInfo: { outOfDate: false, latestVersionString: '0.70.0', versionOnThisInstanceString: '0.70.0' },
    }),
  },

  User: {
    admin: (u) => !!u.admin,
    flags: (u) => (u.flags === undefined || u.flags === null ? null : typeof u.flags === 'string' ? u.flags : tjson.stringify(u.flags)),
    deletedAt: () => null,
    teams: (u) => ({ edges: (u.teams || []).map((t) => ({ node: entityObj(t), cursor: cursorOf(t) })) }),
    apiKeys: () => ({ edges: [{ node: { id: b64('ApiKey:1'), name: 'rwtest-key', description: 'test server key' } }] }),
  },

  Project: {
    entityName: (p) => p.entity,
    entity: (p) => entityObj(p.entity),
    isBenchmark: () => false,
    readOnly: () => false,
    user: (_, __, ctx) => viewerObj(ctx.store),
    run: (p, { name }) => p.byName.get(name) || null,
    runs: (p, args, ctx) => runsConnection(p, args, null, ctx.store.cursorMode),
    runCount: (p, { filters }) => orderedRuns(p, filters, null).list.length,
    sweep: (p, { sweepName }) => p.sweeps.find((s) => s.name === sweepName) || null,
    totalSweeps: (p) => p.sweeps.length,
    sweeps: (p, args) => {
      let list = p.sweeps;
      if (args.after) { const after = uncursor(args.after, 'sweeps'); const i = list.findIndex((s) => s.name === after); list = list.slice(i + 1); }
      const n = pageSize(args.first);
      const edges = list.slice(0, n).map((s) => ({ node: { ...s, project: p }, cursor: cursorOf(s.name) }));
      return { edges, pageInfo: { hasNextPage: list.length > n, hasPreviousPage: !!args.after,
        startCursor: edges.length ? edges[0].cursor : null, endCursor: edges.length ? edges[edges.length - 1].cursor : null } };
    },
  },

  Sweep: {
    runCount: (s, _, ctx) => {
      for (const p of ctx.store.projects.values()) if (p.sweeps.some((x) => x.id === s.id)) return p.runs.filter((r) => r.sweepName === s.name).length;
      return 0;
    },
  },

  Run: {
    projectId: (r) => r.project.n,
    project: (r) => r.project,
    readOnly: () => false,
    stopped: (r) => r.state === 'killed',
    config: (r, { keys }) => subsetDoc(r.config, keys),
    summaryMetrics: (r, { keys }) => subsetDoc(r.summaryMetrics, keys),
    systemMetrics: (r) => systemMetricsText(r),
    historyKeys: (r) => r.history.keysInfo(),
    historyLineCount: (r) => r.history.length,
    fileCount: (r) => r.files.length,
    history: (r, args) => historyTexts(r.history, args),
    events: (r, { samples }) => sampleIndices(r.events.length, samples).map((i) => r.events.row(i).text),
    sampledHistory: (r, { specs }) => specs.map((s) => sampledSpec(r.history, s)),
    files: (r, args) => filesConnection(r, args),
    runtime: (r) => {
      const v = fieldValues(r, 'duration')[0];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    },
  },

  File: {
    id: (n) => n.file.id,
    name: (n) => n.file.name,
    displayName: (n) => n.file.name.split('/').pop(),
    url: (n, _, ctx) => fileUrl(ctx, n.run, n.file),
    directUrl: (n, _, ctx) => `${ctx.storageBase}/storage/${n.file.token}`,
    sizeBytes: (n) => n.file.data.length,
    mimetype: (n) => n.file.mimetype,
    updatedAt: (n) => n.file.updatedAt,
    md5: (n) => n.file.md5,
    digest: (n) => n.file.md5,
    storagePath: (n) => `${n.run.project.entity}/${n.run.project.name}/${n.run.name}/${n.file.name}`,
  },

  Mutation: {
    upsertBucket: (_, { input }, ctx) => {
      const store = ctx.store;
      const has = (k) => Object.prototype.hasOwnProperty.call(input, k);
      const now = isoNow();
      let run, inserted = false;
      if (input.id !== null && input.id !== undefined) {
        run = store.runsById.get(input.id);
        if (!run) throw userErr(`run with id ${input.id} not found`);
      } else {
        if (!input.name) throw userErr('upsertBucket needs an id or a name');
        if (!input.modelName) throw userErr('upsertBucket needs modelName (the project) to create a run');
        const proj = store.ensureProject(input.entityName || store.viewer.entity, input.modelName);
        run = proj.byName.get(input.name);
        if (!run) {
          run = store.addRun(proj, { name: input.name, state: input.state || 'running', createdAt: now, heartbeatAt: now,
            updatedAt: now, user: { name: store.viewer.name, username: store.viewer.username } });
          inserted = true;
        }
      }
      if (has('config') && input.config !== null) checkDoc(input.config, 'config');
      if (has('summaryMetrics') && input.summaryMetrics !== null) checkDoc(input.summaryMetrics, 'summaryMetrics');
      for (const [from, to] of [['description', 'description'], ['displayName', 'displayName'], ['notes', 'notes'],
        ['groupName', 'group'], ['jobType', 'jobType'], ['commit', 'commit'], ['host', 'host'], ['sweep', 'sweepName']]) {
        if (has(from)) run[to] = input[from];
      }
      if (has('tags')) run.tags = input.tags ? input.tags.slice() : [];
      if (has('config') && input.config !== null) run.config = input.config;
      if (has('summaryMetrics') && input.summaryMetrics !== null) run.summaryMetrics = input.summaryMetrics;
      if (has('state') && input.state) run.state = input.state;
      run.updatedAt = now;
      store.touch(run.project);
      return { bucket: run, inserted };
    },
    notifyScriptableRunAlert: (_, { input }, ctx) => {
      ctx.store.alerts.push({
        entityName: input.entityName, projectName: input.projectName, runName: input.runName,
        title: input.title, text: input.text, severity: input.severity || 'INFO',
        waitDuration: input.waitDuration === undefined ? null : input.waitDuration, time: new Date().toISOString(),
      });
      return { success: true };
    },
    deleteRun: (_, { input }, ctx) => {
      const run = ctx.store.runsById.get(input.id);
      if (!run) throw userErr(`run with id ${input.id} not found`);
      ctx.store.deleteRun(run);
      return { clientMutationId: input.clientMutationId === undefined ? null : input.clientMutationId };
    },
    updateRunState: (_, { input }, ctx) => {
      const run = ctx.store.runsById.get(input.id);
      if (!run) throw userErr(`run with id ${input.id} not found`);
      run.state = input.state;
      run.updatedAt = isoNow();
      ctx.store.touch(run.project);
      return { success: true };
    },
  },
};

// artifacts.js's resolvers join these; File serves run files and artifact files (nodes with `afile`)
const ART = artifacts.resolvers();
for (const [typeName, fields] of Object.entries(ART.resolvers)) resolvers[typeName] = { ...(resolvers[typeName] || {}), ...fields };
for (const [field, fn] of Object.entries(resolvers.File)) {
  const art = ART.fileRes[field];
  resolvers.File[field] = (n, a, ctx) => (n.afile ? art(n, a, ctx) : fn(n, a, ctx));
}

// ---------------------------------------------------------------- schema

// The schema, optionally without some fields ("Run.updatedAt"): a W&B server whose schema lacks
// a field this one has (the reference subset has no Run.updatedAt, for one).
function makeSchema(without = []) {
  let sdl = SDL;
  if (without.length) {
    const drop = new Set(without);
    const doc = parse(SDL);
    const defs = doc.definitions.map((d) => {
      if (!d.fields || !d.name) return d;
      return { ...d, fields: d.fields.filter((f) => !drop.has(`${d.name.value}.${f.name.value}`)) };
    });
    sdl = { ...doc, definitions: defs };
  }
  const schema = typeof sdl === 'string' ? buildSchema(sdl) : require('graphql').buildASTSchema(sdl);
  for (const [name, impl] of Object.entries(SCALARS)) Object.assign(schema.getType(name), impl);
  for (const [typeName, fn] of Object.entries(ART.typeResolvers)) schema.getType(typeName).resolveType = fn;
  for (const [typeName, fields] of Object.entries(resolvers)) {
    const type = schema.getType(typeName);
    if (!type) throw new Error(`resolver for unknown type ${typeName}`);
    const defs = type.getFields();
    for (const [field, fn] of Object.entries(fields)) {
      if (!defs[field]) {
        if (without.includes(`${typeName}.${field}`)) continue;
        throw new Error(`resolver for unknown field ${typeName}.${field}`);
      }
      defs[field].resolve = fn;
    }
  }
  return schema;
}

let schema = makeSchema();
let without = [];

// Parsed and validated documents, by query text.
const docCache = new Map();

// setWithout(["Type.field", ...]): serve the schema without those fields ([] = the full one)
function setWithout(list) {
  const next = makeSchema(list);
  schema = next;
  without = list.slice();
  docCache.clear();
  module.exports.schema = schema;
}
function getWithout() { return without.slice(); }

// Parse + validate a request body. Returns { doc, errors, operationName } (operationName from the document).
function prepare(body) {
  if (!body || typeof body.query !== 'string') {
    return { doc: null, errors: [{ message: 'Must provide query string.' }], operationName: null };
  }
  let entry = docCache.get(body.query);
  if (!entry) {
    try {
      const doc = parse(body.query);
      const errs = validate(schema, doc);
      entry = { doc, errors: errs.length ? errs.map((e) => e.toJSON()) : null };
    } catch (e) {
      entry = { doc: null, errors: [e.toJSON ? e.toJSON() : { message: String(e.message) }] };
    }
    if (docCache.size > 500) docCache.clear();
    docCache.set(body.query, entry);
  }
  let operationName = null;
  if (entry.doc) {
    const ops = entry.doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    const wanted = body.operationName || null;
    const op = (wanted && ops.find((o) => o.name && o.name.value === wanted)) || ops[0];
    operationName = op && op.name ? op.name.value : null;
  }
  return { doc: entry.doc, errors: entry.errors, operationName };
}

// Execute a prepared request; returns the GraphQL response object ({data, errors}).
async function run(prepared, body, ctx) {
  if (prepared.errors) return { errors: prepared.errors };
  const vars = body.variables === null || body.variables === undefined ? {} : body.variables;
  if (typeof vars !== 'object' || Array.isArray(vars)) return { errors: [{ message: 'Variables must be provided as an Object where each property is a variable value.' }] };
  const result = await execute({
    schema,
    document: prepared.doc,
    variableValues: vars,
    operationName: body.operationName || undefined,
    contextValue: ctx,
  });
  const out = {};
  if (result.errors) out.errors = result.errors.map((e) => (e.toJSON ? e.toJSON() : e));
  if ('data' in result) out.data = result.data;
  return out;
}

module.exports = { schema, SDL, prepare, run, sampleIndices, likeToRegExp, setWithout, getWithout };
