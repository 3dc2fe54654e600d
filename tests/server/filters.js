// MongoDB-style run filters and run ordering, as the W&B backend applies them to `runs(filters, order)`.
'use strict';

const tjson = require('./tjson');

const MISSING = undefined;

class FilterError extends Error {}

// ---------------------------------------------------------------- field access

const DATE_FIELDS = new Set(['createdAt', 'heartbeatAt', 'updatedAt']);

// Column aliases accepted in filters and order keys -> canonical run property.
const COLUMNS = {
  name: 'name', id: 'name',
  displayName: 'displayName', display_name: 'displayName',
  state: 'state',
  createdAt: 'createdAt', created_at: 'createdAt',
  heartbeatAt: 'heartbeatAt', heartbeat_at: 'heartbeatAt',
  updatedAt: 'updatedAt', updated_at: 'updatedAt',
  group: 'group',
  jobType: 'jobType', job_type: 'jobType',
  tags: 'tags',
  username: 'username',
  host: 'host',
  sweep: 'sweepName', sweepName: 'sweepName', sweep_name: 'sweepName',
  duration: 'duration',
  notes: 'notes', description: 'description', commit: 'commit',
};

// ISO-8601 string -> epoch ms; a time without zone is UTC (W&B sends both forms).
function dateMs(s) {
  if (typeof s !== 'string') return NaN;
  const z = /([zZ]|[+-]\d\d:?\d\d)$/.test(s) ? s : s + 'Z';
  return Date.parse(z);
}

// Parsed config/summary of a run, cached while the stored string is unchanged.
function parsedDoc(run, prop) {
  const cacheKey = '_parsed_' + prop;
  const text = run[prop];
  const c = run[cacheKey];
  if (c && c.text === text) return c.value;
  let value = {};
  try { value = text ? tjson.parse(text) : {}; } catch (e) { value = {}; }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) value = {};
  Object.defineProperty(run, cacheKey, { value: { text, value }, enumerable: false, writable: true, configurable: true });
  return value;
}

// Walk a dotted path through objects; arrays fan out (Mongo semantics). Returns a list of values.
function walk(values, parts) {
  let cur = values;
  for (const p of parts) {
    const next = [];
    for (const v of cur) {
      if (Array.isArray(v)) {
        if (/^\d+$/.test(p) && Number(p) < v.length) next.push(v[Number(p)]);
        for (const el of v) if (el && typeof el === 'object' && !Array.isArray(el) && Object.prototype.hasOwnProperty.call(el, p)) next.push(el[p]);
      } else if (v && typeof v === 'object' && Object.prototype.hasOwnProperty.call(v, p)) {
        next.push(v[p]);
      }
    }
    cur = next;
  }
  return cur;
}

// Values of `path` in `run`: [] when the field is missing.
function fieldValues(run, path) {
  const parts = path.split('.');
  const head = parts[0];
  if (parts.length === 1 && Object.prototype.hasOwnProperty.call(COLUMNS, head)) {
    const col = COLUMNS[head];
    let v;
    if (col === 'username') v = run.user ? run.user.username : null;
    else if (col === 'duration') v = runDuration(run);
    else v = run[col];
    if (v === undefined) v = null;
    if (DATE_FIELDS.has(col) && typeof v === 'string') v = dateMs(v);
    return [v];
  }
  if (head === 'config' && parts.length >= 2) {
    const cfg = parsedDoc(run, 'config');
    if (!Object.prototype.hasOwnProperty.call(cfg, parts[1])) return [];
    let v = cfg[parts[1]];
    let rest = parts.slice(2);
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, 'value')) {
      v = v.value;
      if (rest[0] === 'value') rest = rest.slice(1);
    }
    return walk([v], rest);
  }
  if ((head === 'summary_metrics' || head === 'summaryMetrics') && parts.length >= 2) {
    return walk([parsedDoc(run, 'summaryMetrics')], parts.slice(1));
  }
  if (head === 'tags' && parts.length === 2) {
    // tags.<name>: true when the run carries that tag (used by W&B's query generator)
    return [(run.tags || []).includes(parts[1])];
  }
  return [];
}

function runDuration(run) {
  if (typeof run.runtime === 'number') return run.runtime;
  const s = parsedDoc(run, 'summaryMetrics');
  if (typeof s._runtime === 'number') return s._runtime;
  const a = dateMs(run.createdAt), b = dateMs(run.heartbeatAt);
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, (b - a) / 1000) : null;
}

function isDatePath(path) {
  return Object.prototype.hasOwnProperty.call(COLUMNS, path) && DATE_FIELDS.has(COLUMNS[path]);
}

// ---------------------------------------------------------------- comparison

// BSON-like type order: null < numbers < strings < objects < arrays < booleans
function typeRank(v) {
  if (v === null || v === undefined) return 0;
  switch (typeof v) {
    case 'number': return 1;
    case 'string': return 2;
    case 'boolean': return 5;
    default: return Array.isArray(v) ? 4 : 3;
  }
}

function cmp(a, b) {
  const ra = typeRank(a), rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (ra === 1) {
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1; // NaN sorts below every number
    if (Number.isNaN(b)) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (ra === 2) return a < b ? -1 : a > b ? 1 : 0;
  if (ra === 5) return a === b ? 0 : a ? 1 : -1;
  if (ra === 0) return 0;
  return cmpStr(tjson.stringify(a), tjson.stringify(b));
}

function cmpStr(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

function deepEqual(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k, i) => k === kb[i] && deepEqual(a[k], b[k]));
}

// Candidate values for matching: each value, plus each element of array values.
function expand(values) {
  const out = [];
  for (const v of values) {
    out.push(v);
    if (Array.isArray(v)) out.push(...v);
  }
  return out;
}

function matchEq(values, operand) {
  if (operand === null) return values.length === 0 || expand(values).some((v) => v === null);
  return expand(values).some((v) => deepEqual(v, operand));
}

function matchCmp(values, operand, test) {
  return expand(values).some((v) => {
    if (typeRank(v) !== typeRank(operand) || v === null) return false;
    if (typeof v === 'number' && (Number.isNaN(v) || Number.isNaN(operand))) return false;
    return test(cmp(v, operand));
  });
}

function toRegExp(pattern, options) {
  if (pattern && typeof pattern === 'object' && pattern.$regex !== undefined) return toRegExp(pattern.$regex, pattern.$options);
  if (typeof pattern !== 'string') throw new FilterError('$regex needs a string pattern');
  let flags = '';
  for (const f of String(options || '')) if ('imsu'.includes(f) && !flags.includes(f)) flags += f;
  try { return new RegExp(pattern, flags); } catch (e) { throw new FilterError(`invalid $regex ${JSON.stringify(pattern)}: ${e.message}`); }
}

// ---------------------------------------------------------------- compile

function isOperatorDoc(v) {
  return v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => k.startsWith('$'));
}

function compileField(path, spec) {
  const date = isDatePath(path);
  const norm = (x) => (date && typeof x === 'string' ? dateMs(x) : x);
  if (!isOperatorDoc(spec)) {
    const operand = norm(spec);
    return (run) => matchEq(fieldValues(run, path), operand);
  }
  const tests = [];
  const ops = Object.keys(spec);
  for (const op of ops) {
    const arg = spec[op];
    switch (op) {
      case '$eq': { const o = norm(arg); tests.push((vs) => matchEq(vs, o)); break; }
      case '$ne': { const o = norm(arg); tests.push((vs) => !matchEq(vs, o)); break; }
      case '$gt': { const o = norm(arg); tests.push((vs) => matchCmp(vs, o, (c) => c > 0)); break; }
      case '$gte': { const o = norm(arg); tests.push((vs) => matchCmp(vs, o, (c) => c >= 0)); break; }
      case '$lt': { const o = norm(arg); tests.push((vs) => matchCmp(vs, o, (c) => c < 0)); break; }
      case '$lte': { const o = norm(arg); tests.push((vs) => matchCmp(vs, o, (c) => c <= 0)); break; }
      case '$in':
      case '$nin': {
        if (!Array.isArray(arg)) throw new FilterError(`${op} needs an array`);
        const os = arg.map(norm);
        const hit = (vs) => os.some((o) => (o instanceof RegExp ? false : matchEq(vs, o)));
        tests.push(op === '$in' ? hit : (vs) => !hit(vs));
        break;
      }
      case '$exists': { const want = !!arg; tests.push((vs) => (vs.length > 0) === want); break; }
      case '$regex': {
        const re = toRegExp(arg, spec.$options);
        tests.push((vs) => expand(vs).some((v) => typeof v === 'string' && re.test(v)));
        break;
      }
      case '$options': if (spec.$regex === undefined) throw new FilterError('$options without $regex'); break;
      case '$not': {
        let inner;
        if (arg instanceof Object && !Array.isArray(arg)) inner = compileField(path, arg);
        else if (typeof arg === 'string') inner = compileField(path, { $regex: arg });
        else throw new FilterError('$not needs an operator document');
        tests.push((vs, run) => !inner(run));
        break;
      }
      case '$size': {
        tests.push((vs) => vs.some((v) => Array.isArray(v) && v.length === arg));
        break;
      }
      default:
        throw new FilterError(`unknown filter operator ${op}`);
    }
  }
  return (run) => {
    const vs = fieldValues(run, path);
    return tests.every((t) => t(vs, run));
  };
}

function compileDoc(doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new FilterError('a filter must be a JSON object');
  const parts = [];
  for (const key of Object.keys(doc)) {
    const v = doc[key];
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(v)) throw new FilterError(`${key} needs an array`);
      const subs = v.map(compileDoc);
      if (key === '$and') parts.push((r) => subs.every((f) => f(r)));
      else if (key === '$or') parts.push((r) => subs.some((f) => f(r)));
      else parts.push((r) => !subs.some((f) => f(r)));
    } else if (key === '$not') {
      const sub = compileDoc(v);
      parts.push((r) => !sub(r));
    } else if (key.startsWith('$')) {
      throw new FilterError(`unknown filter operator ${key}`);
    } else {
      parts.push(compileField(key, v));
    }
  }
  return (run) => parts.every((f) => f(run));
}

// filters: a JSON text (the GraphQL JSONString argument), an object, or null.
function compileFilter(filters) {
  if (filters === null || filters === undefined || filters === '') return () => true;
  let doc = filters;
  if (typeof filters === 'string') {
    try { doc = tjson.parse(filters); } catch (e) { throw new FilterError(`invalid filters JSON: ${e.message}`); }
  }
  if (doc === null) return () => true;
  return compileDoc(doc);
}

// ---------------------------------------------------------------- order

// order: "+key", "-key" or "key" (ascending). Returns { key, desc, sortKey(run) }.
function parseOrder(order) {
  let s = (order || '+created_at').trim();
  let desc = false;
  if (s.startsWith('-')) { desc = true; s = s.slice(1); } else if (s.startsWith('+')) s = s.slice(1);
  if (!s) s = 'created_at';
  const path = s;
  return {
    key: path,
    desc,
    // [missing, value]: missing keys sort last in both directions
    sortKey(run) {
      const vs = fieldValues(run, path);
      if (vs.length === 0 || vs[0] === null || vs[0] === undefined) return [1, null];
      return [0, vs[0]];
    },
  };
}

// Compare two (sortKey, seq) entries under an order. Ties are broken by seq, in the order's direction.
function compareEntries(order, a, b) {
  if (a.k[0] !== b.k[0]) return a.k[0] - b.k[0];
  let c = a.k[0] ? 0 : cmp(a.k[1], b.k[1]);
  if (c === 0) c = a.seq - b.seq;
  return order.desc ? -c : c;
}

module.exports = { compileFilter, parseOrder, compareEntries, fieldValues, dateMs, parsedDoc, FilterError, MISSING };
