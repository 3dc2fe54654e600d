// Fault injection rules (status codes, delays, dropped/truncated/malformed answers) for the test server.
'use strict';

const KINDS = ['status', 'drop', 'truncate', 'malformed', 'graphql_error', 'delay_ms'];

class Faults {
  constructor() { this.rules = []; }

  // rules: [{ match: {op, path, method}, times: 1, after: 0, action: {...} }]
  set(rules) {
    if (!Array.isArray(rules)) throw new Error('"rules" must be an array');
    this.rules = rules.map((r, i) => {
      if (!r || typeof r !== 'object' || !r.action || typeof r.action !== 'object') throw new Error(`rule ${i} needs an "action" object`);
      const a = r.action;
      if (!KINDS.some((k) => a[k] !== undefined)) throw new Error(`rule ${i}: action needs one of ${KINDS.join(', ')}`);
      if (a.drop !== undefined && a.drop !== 'before' && a.drop !== 'mid-body') throw new Error(`rule ${i}: drop must be "before" or "mid-body"`);
      return {
        index: i,
        match: r.match || {},
        times: r.times === undefined ? 1 : r.times,
        after: r.after || 0,
        action: a,
        seen: 0,
        hits: 0,
      };
    });
  }

  add(rules) {
    const old = this.rules;
    this.set(rules);
    this.rules = old.concat(this.rules.map((r, i) => ({ ...r, index: old.length + i })));
  }

  clear() { this.rules = []; }

  list() {
    return this.rules.map((r) => ({ index: r.index, match: r.match, times: r.times, after: r.after, action: r.action, seen: r.seen, hits: r.hits }));
  }

  // The rule to apply to a request { path, method, op }, or null. Counts matches and hits.
  pick(req) {
    for (const r of this.rules) {
      const m = r.match;
      if (m.op !== undefined && m.op !== req.op) continue;
      if (m.path !== undefined && !(req.path === m.path || (m.path.endsWith('/') && req.path.startsWith(m.path)))) continue;
      if (m.method !== undefined && String(m.method).toUpperCase() !== req.method) continue;
      if (r.times !== -1 && r.hits >= r.times) continue;
      r.seen++;
      if (r.seen <= r.after) continue;
      r.hits++;
      return r;
    }
    return null;
  }
}

// A short name for the log: "status:429", "drop:before", "truncate:100", "malformed", "graphql_error", "delay:5000".
function describe(action) {
  const parts = [];
  if (action.delay_ms !== undefined) parts.push(`delay:${action.delay_ms}`);
  if (action.status !== undefined) parts.push(`status:${action.status}`);
  if (action.drop !== undefined) parts.push(`drop:${action.drop}`);
  if (action.truncate !== undefined) parts.push(`truncate:${action.truncate}`);
  if (action.malformed) parts.push('malformed');
  if (action.graphql_error !== undefined) parts.push('graphql_error');
  return parts.join(',');
}

module.exports = { Faults, describe };
