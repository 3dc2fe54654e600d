// Tolerant JSON for W&B-style documents: NaN/Infinity tokens, raw control characters, raw member texts.
'use strict';

// A piece of JSON text that must be emitted verbatim inside a response.
class RawJSON {
  constructor(text) { this.text = text; }
}

class Parser {
  constructor(text) { this.s = text; this.i = 0; }

  fail(what) {
    const err = new SyntaxError(`invalid JSON at offset ${this.i}: ${what}`);
    err.offset = this.i;
    throw err;
  }

  ws() {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.i++;
      else break;
    }
  }

  value() {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === 't') return this.word('true', true);
    if (c === 'f') return this.word('false', false);
    if (c === 'n') return this.word('null', null);
    if (c === 'N') return this.word('NaN', NaN);
    if (c === 'I') return this.word('Infinity', Infinity);
    if (c === '-' && this.s.startsWith('-Infinity', this.i)) return this.word('-Infinity', -Infinity);
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
  }

  word(w, v) {
    if (!this.s.startsWith(w, this.i)) this.fail(`expected ${w}`);
    this.i += w.length;
    return v;
  }

  number() {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) this.fail('bad number');
    this.i += m[0].length;
    return Number(m[0]);
  }

  string() {
    const s = this.s;
    let i = this.i + 1;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= s.length) { this.i = i; this.fail('unterminated string'); }
      const c = s[i];
      if (c === '"') break;
      if (c === '\\') {
        out += s.slice(start, i);
        const e = s[i + 1];
        const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
        if (simple !== undefined) { out += simple; i += 2; }
        else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16));
          i += 6;
        } else { this.i = i; this.fail('bad escape'); }
        start = i;
      } else i++; // raw control characters are tolerated (Python json.loads(strict=False))
    }
    out += s.slice(start, i);
    this.i = i + 1;
    return out;
  }

  array() {
    this.i++;
    const out = [];
    this.ws();
    if (this.s[this.i] === ']') { this.i++; return out; }
    for (;;) {
      out.push(this.value());
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') { this.i--; this.fail("expected ',' or ']'"); }
    }
  }

  // Returns [key, value, rawText] triples when raw is set, else a plain object.
  object(raw) {
    this.i++;
    const out = raw ? [] : {};
    this.ws();
    if (this.s[this.i] === '}') { this.i++; return out; }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a key');
      const k = this.string();
      this.ws();
      if (this.s[this.i++] !== ':') { this.i--; this.fail("expected ':'"); }
      this.ws();
      const start = this.i;
      const v = this.value();
      if (raw) out.push([k, v, this.s.slice(start, this.i)]);
      else Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') { this.i--; this.fail("expected ',' or '}'"); }
    }
  }

  end() {
    this.ws();
    if (this.i !== this.s.length) this.fail('trailing characters');
  }
}

// Parse a JSON text; accepts NaN, Infinity, -Infinity and raw control characters in strings.
// Integers beyond 2^53 lose precision here (only used for filtering and ordering).
function parse(text) {
  const p = new Parser(String(text));
  const v = p.value();
  p.end();
  return v;
}

// Parse a JSON object text into [[key, value, rawValueText], ...] in document order.
// Later duplicates win, as in JSON.parse.
function members(text) {
  const p = new Parser(String(text));
  p.ws();
  if (p.s[p.i] !== '{') p.fail('expected an object');
  const list = p.object(true);
  p.end();
  return list;
}

// Build an object text from [key, rawValueText] pairs (compact, keys JSON-escaped).
function fromMembers(pairs) {
  return '{' + pairs.map(([k, raw]) => JSON.stringify(k) + ':' + raw).join(',') + '}';
}

// Replace or add members of an object text, keeping every other member's text verbatim.
function mergeMembers(text, updates /* Map key -> raw text, undefined = delete */) {
  let list = [];
  try { list = members(text).map(([k, , raw]) => [k, raw]); } catch (e) { list = []; }
  const seen = new Set();
  const out = [];
  for (const [k, raw] of list) {
    if (updates.has(k)) {
      if (seen.has(k)) continue;
      seen.add(k);
      const r = updates.get(k);
      if (r !== undefined) out.push([k, r]);
    } else out.push([k, raw]);
  }
  for (const [k, r] of updates) if (!seen.has(k) && r !== undefined) out.push([k, r]);
  return fromMembers(out);
}

// JSON.stringify that writes NaN/Infinity/-Infinity as bare tokens (Python json.dumps style)
// and RawJSON values verbatim.
function stringify(v) {
  if (v instanceof RawJSON) return v.text;
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'number':
      if (Number.isNaN(v)) return 'NaN';
      if (v === Infinity) return 'Infinity';
      if (v === -Infinity) return '-Infinity';
      return JSON.stringify(v);
    case 'bigint': return v.toString();
    case 'string': return JSON.stringify(v);
    case 'boolean': return v ? 'true' : 'false';
    default:
      if (Array.isArray(v)) return '[' + v.map((x) => stringify(x === undefined ? null : x)).join(',') + ']';
      return '{' + Object.keys(v).filter((k) => v[k] !== undefined)
        .map((k) => JSON.stringify(k) + ':' + stringify(v[k])).join(',') + '}';
  }
}

module.exports = { RawJSON, parse, members, fromMembers, mergeMembers, stringify };
