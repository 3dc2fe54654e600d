// The test server's artifacts: types, collections (sequences), versions with real file bytes and MD5 digests, aliases, manifests, signed storage URLs, their GraphQL resolvers and admin operations.
'use strict';

// Model (wandb-artifacts.md §1, §6, §8): a version belongs to one sequence, numbered v0, v1, ...
// (never reused); aliases are unique per collection (adding one moves it); `latest` follows the
// newest COMMITTED version; each file's digest is the base64 MD5 of its bytes; the artifact digest
// is the MD5 hex of "wandb-artifact-manifest-v1\n" + "<path>:<digest>\n" in path (UTF-8 byte) order.
// Bytes and the manifest are served at /storage/art/<token>?sig=... (the storage host alias, no
// auth); `File.url` is /artifactsV2/... on the W&B host (auth). Portfolios (link collections) are
// not modelled.

const crypto = require('crypto');
const { GraphQLError } = require('graphql');
const tjson = require('./tjson');

const FEATURES = ['PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP', 'ARTIFACT_COLLECTION_MEMBERSHIP_FILES',
  'TOTAL_COUNT_IN_FILE_CONNECTION', 'ARTIFACT_COLLECTIONS_FILTERING_SORTING'];
const BASE_TIME = Date.parse('2024-03-02T00:00:00Z');
const MAX_PAGE = 1000;
const SECRET = crypto.randomBytes(16).toString('hex');

function b64(s) { return Buffer.from(s, 'utf8').toString('base64'); }
function iso(ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'); }
function userErr(msg) { return new GraphQLError(msg); }
function md5b64(buf) { return crypto.createHash('md5').update(buf).digest('base64'); }
function byteOrder(a, b) { return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')); }
function sign(token) { return crypto.createHmac('sha256', SECRET).update(token).digest('hex').slice(0, 24); }
const VN = /^v\d+$/;

// File bytes from a fixture: a string (UTF-8), {"base64": ...}, or {"bytes": N, "seed": S} (N pseudo-random bytes).
function fileBytes(spec, where) {
  if (typeof spec === 'string') return Buffer.from(spec, 'utf8');
  if (spec && typeof spec === 'object') {
    if (typeof spec.base64 === 'string') return Buffer.from(spec.base64, 'base64');
    if (Number.isInteger(spec.bytes) && spec.bytes >= 0) {
      const out = Buffer.alloc(spec.bytes);
      let x = (spec.seed | 0) >>> 0 || 1;
      for (let i = 0; i < out.length; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = x & 0xff; }
      return out;
    }
  }
  throw new Error(`${where}: a file is a string, {"base64": ...} or {"bytes": N, "seed": S}`);
}

function manifestDigest(files) {
  const lines = files.slice().sort((a, b) => byteOrder(a.path, b.path)).map((f) => `${f.path}:${f.digest}\n`);
  return crypto.createHash('md5').update('wandb-artifact-manifest-v1\n' + lines.join(''), 'utf8').digest('hex');
}

function page(list, args, dflt = 50) {
  let start = 0;
  if (args.after) {
    const m = /^o:(\d+)$/.exec(Buffer.from(String(args.after), 'base64').toString('utf8'));
    if (!m) throw userErr('invalid cursor');
    start = Number(m[1]) + 1;
  }
  let n = args.first === null || args.first === undefined ? dflt : args.first;
  if (n < 0) throw userErr('first must be non-negative');
  n = Math.min(n, MAX_PAGE);
  const slice = list.slice(start, start + n);
  const edges = slice.map((x, i) => ({ x, cursor: b64(`o:${start + i}`) }));
  return {
    edges,
    totalCount: list.length,
    pageInfo: {
      hasNextPage: start + slice.length < list.length,
      hasPreviousPage: start > 0,
      startCursor: edges.length ? edges[0].cursor : null,
      endCursor: edges.length ? edges[edges.length - 1].cursor : null,
    },
  };
}

function conn(list, args, edge, dflt) {
  const p = page(list, args, dflt);
  return { totalCount: p.totalCount, pageInfo: p.pageInfo, edges: p.edges.map((e) => ({ cursor: e.cursor, ...edge(e.x) })) };
}

class Artifacts {
  constructor(store) {
    this.store = store;
    this.projects = new Map(); // "entity/project" -> { types: Map, colls: Map }
    this.byId = new Map();     // artifact id -> version
    this.collById = new Map();
    this.tokens = new Map();   // storage token -> { art, file } | { art, manifest: true }
    this.n = 0;
  }

  proj(entity, project, create) {
    const key = `${entity}/${project}`;
    let ap = this.projects.get(key);
    if (!ap && create) {
      this.store.ensureProject(entity, project);
      ap = { entity, project, types: new Map(), colls: new Map() };
      this.projects.set(key, ap);
    }
    return ap || null;
  }

  // ---- fixtures: [{entity, project, type, name, description?, versions: [{files, aliases, metadata, ...}]}]
  load(list) {
    if (!Array.isArray(list)) throw new Error('"artifacts" must be a list of collections');
    for (const c of list) for (const v of c.versions || []) this.addVersion({ ...c, ...v, description: v.description, versions: undefined, collection_description: c.description });
  }

  type(ap, name, createdAt) {
    let t = ap.types.get(name);
    if (!t) {
      const n = ++this.n;
      t = { id: b64(`ArtifactType:${n}`), name, description: null, createdAt: createdAt || iso(BASE_TIME + n * 60000), ap };
      ap.types.set(name, t);
    }
    return t;
  }

  // addVersion({entity, project, type, name, files, aliases, metadata, description, created_by, used_by, created_at, tags, state})
  addVersion(o) {
    const where = `artifact ${o.entity}/${o.project}/${o.name}`;
    if (!o.entity || !o.project || !o.name || !o.type) throw new Error(`${where}: entity, project, name and type are required`);
    const ap = this.proj(o.entity, o.project, true);
    let coll = ap.colls.get(o.name);
    const n = ++this.n;
    const created = o.created_at || iso(BASE_TIME + n * 3600000);
    if (!coll) {
      coll = {
        __typename: 'ArtifactSequence', id: b64(`ArtifactCollection:${n}`), name: o.name, type: this.type(ap, o.type, created),
        description: o.collection_description || null, createdAt: created, updatedAt: created, tags: [], state: 'READY',
        ap, versions: [], aliases: new Map(),
      };
      ap.colls.set(o.name, coll);
      this.collById.set(coll.id, coll);
    } else if (coll.type.name !== o.type) {
      throw new Error(`${where}: the collection is of type ${coll.type.name}, not ${o.type}`);
    }
    const art = {
      id: b64(`Artifact:${1000 + n}`), n, coll, versionIndex: coll.versions.length,
      description: o.description === undefined ? null : o.description,
      metadata: o.metadata === undefined || o.metadata === null ? null : typeof o.metadata === 'string' ? o.metadata : tjson.stringify(o.metadata),
      state: o.state || 'COMMITTED', createdAt: created, updatedAt: o.updated_at || null,
      historyStep: o.history_step === undefined ? null : o.history_step,
      tags: (o.tags || []).slice(), files: [], manifestText: null,
      createdBy: o.created_by ? this.runRef(o.entity, o.project, o.created_by, where) : null,
      usedBy: (o.used_by || []).map((r) => this.runRef(o.entity, o.project, r, where)),
      manifestToken: crypto.createHash('sha256').update(`manifest/${n}/${SECRET}`).digest('hex').slice(0, 32),
    };
    for (const [p, spec] of Object.entries(o.files || {})) {
      const data = fileBytes(spec, `${where}: file ${p}`);
      const f = { path: p, data, digest: md5b64(data), size: data.length, id: b64(`File:art${n}/${p}`),
        token: crypto.createHash('sha256').update(`${n}/${p}/${SECRET}`).digest('hex').slice(0, 32), corrupt: null };
      art.files.push(f);
      this.tokens.set(f.token, { art, file: f });
    }
    art.files.sort((a, b) => byteOrder(a.path, b.path));
    art.digest = manifestDigest(art.files);
    art.commitHash = art.digest.slice(0, 12);
    this.tokens.set(art.manifestToken, { art, manifest: true });
    coll.versions.push(art);
    coll.updatedAt = created;
    this.byId.set(art.id, art);
    if (art.state === 'COMMITTED') coll.aliases.set('latest', art);
    for (const a of o.aliases || []) { this.checkAlias(a); coll.aliases.set(a, art); }
    return art;
  }

  runRef(entity, project, name, where) {
    const p = this.store.project(entity, project);
    const run = p && p.byName.get(name);
    if (!run) throw new Error(`${where}: no run ${entity}/${project}/${name}`);
    return run;
  }

  checkAlias(a) {
    if (typeof a !== 'string' || a === '' || a.length > 128) throw userErr(`invalid alias ${JSON.stringify(a)}`);
    if (/[/:]/.test(a)) throw userErr(`invalid alias "${a}": aliases cannot contain "/" or ":"`);
    if (VN.test(a)) throw userErr(`alias "${a}" is a version alias and cannot be assigned or removed`);
  }

  setAlias(coll, art, a) {
    this.checkAlias(a);
    coll.aliases.set(a, art);
    art.updatedAt = iso(Date.now());
  }

  relatest(coll) {
    const live = coll.versions.filter((v) => v.state === 'COMMITTED');
    if (live.length) coll.aliases.set('latest', live[live.length - 1]); else coll.aliases.delete('latest');
  }

  // aliases of a version in its collection: vN first, then the others in insertion order
  aliasesOf(art) {
    const out = [`v${art.versionIndex}`];
    for (const [a, v] of art.coll.aliases) if (v === art) out.push(a);
    return out;
  }

  // "coll:alias" | "coll" (= latest) -> {coll, art} or null
  resolve(ap, name, type) {
    if (!ap) return null;
    const i = name.indexOf(':');
    const cname = i < 0 ? name : name.slice(0, i);
    const alias = i < 0 ? 'latest' : name.slice(i + 1);
    const coll = ap.colls.get(cname);
    if (!coll || (type && coll.type !== type)) return null;
    const art = this.member(coll, alias);
    return art ? { coll, art } : null;
  }

  member(coll, alias) {
    let art = null;
    if (VN.test(alias)) art = coll.versions[Number(alias.slice(1))] || null;
    else if (coll.aliases.has(alias)) art = coll.aliases.get(alias);
    else art = coll.versions.find((v) => v.digest === alias || v.commitHash === alias) || null;
    return art && art.state !== 'DELETED' ? art : null;
  }

  // ---- storage (no auth; a signed URL)
  storageUrl(ctx, token, name) {
    return `${ctx.storageBase}/storage/art/${token}/${name.split('/').map(encodeURIComponent).join('/')}?sig=${sign(token)}&expires=4102444800`;
  }

  manifestOf(art) {
    if (art.manifestText !== null) return art.manifestText;
    const contents = {};
    for (const f of art.files) contents[f.path] = { digest: f.digest, birthArtifactID: art.id, size: f.size };
    return JSON.stringify({ version: 1, storagePolicy: 'wandb-storage-policy-v1', storagePolicyConfig: { storageLayout: 'V2' }, contents }, null, 4);
  }

  // The bytes at /storage/art/<token>/...: {status, body, type}
  serveStorage(rest, query) {
    const token = rest.split('/')[0];
    const hit = this.tokens.get(token);
    if (!hit) return { status: 404, body: Buffer.from('{"error":"object not found"}'), type: 'application/json' };
    if (query.get('sig') !== sign(token)) return { status: 403, body: Buffer.from('{"error":"bad signature"}'), type: 'application/json' };
    if (hit.manifest) return { status: 200, body: Buffer.from(this.manifestOf(hit.art), 'utf8'), type: 'application/json' };
    return { status: 200, body: this.bytesOf(hit.file), type: 'application/octet-stream' };
  }

  bytesOf(f) {
    if (!f.corrupt) return f.data;
    const b = Buffer.from(f.data);
    if (f.corrupt === 'truncate') return b.subarray(0, Math.floor(b.length / 2));
    if (b.length) b[b.length >> 1] ^= 0xff; else return Buffer.from('x');
    return b;
  }

  // /artifactsV2/default/<entity>/<project>/<collection>/<artifact id>/<token>/<name> (W&B auth)
  serveAuthed(parts) {
    const hit = this.tokens.get(parts[5]);
    if (!hit || hit.manifest) return null;
    return this.bytesOf(hit.file);
  }

  // ---- admin
  findVersion(b) {
    const ap = this.proj(b.entity, b.project, false);
    const hit = this.resolve(ap, String(b.name || ''));
    if (!hit) throw new Error(`no artifact ${b.entity}/${b.project}/${b.name}`);
    return hit;
  }

  dump(entity, project) {
    const ap = this.proj(entity, project, false);
    if (!ap) return { collections: [] };
    return {
      types: [...ap.types.values()].map((t) => ({ id: t.id, name: t.name })),
      collections: [...ap.colls.values()].map((c) => ({
        id: c.id, name: c.name, type: c.type.name,
        aliases: Object.fromEntries([...c.aliases].map(([a, v]) => [a, `v${v.versionIndex}`])),
        versions: c.versions.map((v) => ({
          id: v.id, version: `v${v.versionIndex}`, state: v.state, digest: v.digest, commitHash: v.commitHash,
          size: v.files.reduce((s, f) => s + f.size, 0), fileCount: v.files.length, description: v.description,
          metadata: v.metadata, tags: v.tags, createdAt: v.createdAt, updatedAt: v.updatedAt, aliases: this.aliasesOf(v),
          createdBy: v.createdBy ? v.createdBy.name : null, usedBy: v.usedBy.map((r) => r.name),
          files: v.files.map((f) => ({ path: f.path, digest: f.digest, size: f.size })),
        })),
      })),
    };
  }

  // POST /_admin/artifacts/<op>
  admin(op, b) {
    switch (op) {
      case 'version': {
        const art = this.addVersion(b);
        return { id: art.id, version: `v${art.versionIndex}`, digest: art.digest };
      }
      case 'alias': {
        const { coll, art } = this.findVersion(b);
        for (const a of b.add || []) this.setAlias(coll, art, a);
        for (const a of b.remove || []) if (coll.aliases.get(a) === art) coll.aliases.delete(a);
        return { aliases: this.aliasesOf(art) };
      }
      case 'corrupt': {
        const { art } = this.findVersion(b);
        const f = art.files.find((x) => x.path === b.path);
        if (!f) throw new Error(`no file ${b.path} in ${b.name}`);
        f.corrupt = b.mode === 'truncate' ? 'truncate' : b.mode === false ? null : 'flip';
        return { ok: true, path: f.path, mode: f.corrupt };
      }
      case 'manifest': {
        const { art } = this.findVersion(b);
        art.manifestText = b.text === undefined || b.text === null ? null : String(b.text);
        return { ok: true };
      }
      case 'delete': {
        const { coll, art } = this.findVersion(b);
        art.state = 'DELETED';
        for (const [a, v] of [...coll.aliases]) if (v === art) coll.aliases.delete(a);
        this.relatest(coll);
        return { ok: true };
      }
      default: throw new Error(`no artifacts admin operation ${op}`);
    }
  }
}

// ---------------------------------------------------------------- resolvers

function runConn(runs, args) {
  return conn(runs, args, (r) => ({ node: r }));
}

function aliasObj(coll, art, alias) {
  return { id: b64(`ArtifactAlias:${coll.id}:${alias}`), alias, artifactCollectionName: coll.name, artifact: art, artifactCollection: coll };
}

function membership(art) { return { art, coll: art.coll }; }

function filesConn(art, args) {
  let list = art.files;
  if (args.names) { const want = new Set(args.names); list = list.filter((f) => want.has(f.path)); }
  return conn(list, args, (f) => ({ node: { afile: f, art } }));
}

function collections(ctx, ap, type, args) {
  if (!ap) return null;
  let list = [...ap.colls.values()].filter((c) => !type || c.type === type);
  if (args.filters) {
    let f;
    try { f = JSON.parse(args.filters); } catch (e) { throw userErr(`invalid filters: ${e.message}`); }
    if (f && typeof f.name === 'string') list = list.filter((c) => c.name === f.name);
  }
  const order = args.order || '-id';
  const key = order.replace(/^[-+]/, '');
  const desc = order.startsWith('-');
  list.sort((a, b) => {
    const x = key === 'name' ? byteOrder(a.name, b.name) : key === 'updatedAt' ? byteOrder(a.updatedAt, b.updatedAt) : a.versions[0].n - b.versions[0].n;
    return desc ? -x : x;
  });
  return conn(list, args, (c) => ({ node: c }));
}

function versions(coll, args) {
  let list = coll.versions.slice();
  if (args.filters) {
    let f;
    try { f = JSON.parse(args.filters); } catch (e) { throw userErr(`invalid filters: ${e.message}`); }
    if (f && typeof f.state === 'string') list = list.filter((v) => v.state === f.state);
  } else {
    list = list.filter((v) => v.state !== 'DELETED');
  }
  const order = args.order || '-version_index';
  if (!/^[-+]?(version_index|versionIndex|createdAt|created_at)$/.test(order)) throw userErr(`unsupported order ${order}`);
  if (order.startsWith('-')) list.reverse();
  return conn(list, args, (v) => ({ node: v, version: `v${v.versionIndex}` }));
}

function resolvers() {
  const S = (ctx) => ctx.store.artifacts;
  const ap = (p, ctx) => S(ctx).proj(p.entity, p.name, false);
  const collRes = {
    project: (c, _, ctx) => ctx.store.project(c.ap.entity, c.ap.project),
    defaultArtifactType: (c) => c.type,
    tags: (c, args) => conn(c.tags.map((t) => ({ id: b64(`Tag:${t}`), name: t, tagCategoryName: '', attributes: '{}' })), args, (t) => ({ node: t })),
    aliases: (c, args) => conn([...c.aliases].map(([a, v]) => aliasObj(c, v, a)), args, (x) => ({ node: x })),
    artifactMembership: (c, { aliasName }, ctx) => { const art = S(ctx).member(c, aliasName); return art ? membership(art) : null; },
    artifactMemberships: (c, args) => conn(c.versions.filter((v) => v.state !== 'DELETED').map(membership), args, (m) => ({ node: m })),
    artifacts: (c, args) => versions(c, args),
    latestArtifact: (c) => c.aliases.get('latest') || null,
  };
  const fileRes = {
    id: (n) => n.afile.id,
    name: (n) => n.afile.path,
    displayName: (n) => n.afile.path,
    url: (n, _, ctx) => `${ctx.baseUrl}/artifactsV2/default/${[n.art.coll.ap.entity, n.art.coll.ap.project, n.art.coll.name, n.art.id, n.afile.token].map(encodeURIComponent).join('/')}/${encodeURIComponent(n.afile.path.split('/').pop())}`,
    directUrl: (n, _, ctx) => S(ctx).storageUrl(ctx, n.afile.token, n.afile.path),
    sizeBytes: (n) => n.afile.size,
    mimetype: () => 'application/octet-stream',
    updatedAt: (n) => n.art.createdAt,
    md5: (n) => n.afile.digest,
    digest: (n) => n.afile.digest,
    storagePath: (n) => `wandb_artifacts/${n.art.n}/${n.afile.token}`,
  };
  return {
    fileRes,
    typeResolvers: {
      Initiator: (v) => (v && v.history ? 'Run' : 'User'),
      ArtifactCollection: () => 'ArtifactSequence',
    },
    resolvers: {
      Query: {
        artifact: (_, { id }, ctx) => S(ctx).byId.get(id) || null,
        artifactCollection: (_, { id }, ctx) => S(ctx).collById.get(id) || null,
      },
      ServerInfo: {
        features: () => FEATURES.map((name) => ({ name, isEnabled: true })),
      },
      Project: {
        artifact: (p, { name }, ctx) => { const h = S(ctx).resolve(ap(p, ctx), name); return h ? h.art : null; },
        artifactType: (p, { name }, ctx) => { const a = ap(p, ctx); return (a && a.types.get(name)) || null; },
        artifactTypes: (p, args, ctx) => conn(ap(p, ctx) ? [...ap(p, ctx).types.values()] : [], args, (t) => ({ node: t })),
        artifactCollection: (p, { name }, ctx) => { const a = ap(p, ctx); return (a && a.colls.get(name)) || null; },
        artifactCollections: (p, args, ctx) => collections(ctx, ap(p, ctx), null, args) || conn([], args, (x) => ({ node: x })),
        artifactCollectionMembership: (p, { name }, ctx) => { const h = S(ctx).resolve(ap(p, ctx), name); return h ? membership(h.art) : null; },
      },
      ArtifactType: {
        project: (t, _, ctx) => ctx.store.project(t.ap.entity, t.ap.project),
        artifact: (t, { name }, ctx) => { const h = S(ctx).resolve(t.ap, name, t); return h ? h.art : null; },
        artifactCollection: (t, { name }) => { const c = t.ap.colls.get(name); return c && c.type === t ? c : null; },
        artifactCollections: (t, args, ctx) => collections(ctx, t.ap, t, args),
        artifactSequence: (t, { name }) => { const c = t.ap.colls.get(name); return c && c.type === t ? c : null; },
      },
      ArtifactSequence: collRes,
      ArtifactCollectionMembership: {
        id: (m) => b64(`ArtifactCollectionMembership:${m.art.n}`),
        versionIndex: (m) => m.art.versionIndex,
        aliases: (m, _1, ctx) => S(ctx).aliasesOf(m.art).map((a) => aliasObj(m.coll, m.art, a)),
        artifact: (m) => m.art,
        artifactCollection: (m) => m.coll,
        commitHash: (m) => m.art.commitHash,
        createdAt: (m) => m.art.createdAt,
        files: (m, args) => filesConn(m.art, args),
      },
      Artifact: {
        artifactSequence: (a) => a.coll,
        artifactType: (a) => a.coll.type,
        versionIndex: (a) => a.versionIndex,
        ttlDurationSeconds: () => -2,
        ttlIsInherited: () => false,
        tags: (a) => a.tags.map((t) => ({ id: b64(`Tag:${t}`), name: t, tagCategoryName: '', attributes: '{}' })),
        size: (a) => a.files.reduce((s, f) => s + f.size, 0),
        storageBytes: (a) => a.files.reduce((s, f) => s + f.size, 0),
        fileCount: (a) => a.files.length,
        commitHash: (a) => a.commitHash,
        aliases: (a, _1, ctx) => S(ctx).aliasesOf(a).map((x) => aliasObj(a.coll, a, x)),
        artifactMemberships: (a, args) => conn([membership(a)], args, (m) => ({ node: m })),
        artifactCollections: (a, args) => conn([a.coll], args, (c) => ({ node: c })),
        currentManifest: (a, _, ctx) => ({
          id: b64(`ArtifactManifest:${a.n}`), type: 'FULL', createdAt: a.createdAt, digest: a.digest, artifact: a,
          file: { afile: { id: b64(`File:manifest${a.n}`), path: 'wandb_manifest.json', token: a.manifestToken, size: Buffer.byteLength(S(ctx).manifestOf(a)), digest: md5b64(Buffer.from(S(ctx).manifestOf(a))) }, art: a },
        }),
        files: (a, args) => filesConn(a, args),
        usedBy: (a, args) => runConn(a.usedBy, args),
        usedCount: (a) => a.usedBy.length,
        createdBy: (a, _, ctx) => a.createdBy || ctx.store.viewer,
        labels: () => null,
      },
      Run: {
        outputArtifacts: (r, args, ctx) => conn([...S(ctx).byId.values()].filter((a) => a.createdBy === r && a.state !== 'DELETED'), args, (a) => ({ node: a })),
        inputArtifacts: (r, args, ctx) => conn([...S(ctx).byId.values()].filter((a) => a.usedBy.includes(r) && a.state !== 'DELETED'), args, (a) => ({ node: a, usedAs: [] })),
      },
      Mutation: {
        addAliases: (_, { input }, ctx) => aliasMutation(ctx, input, true),
        deleteAliases: (_, { input }, ctx) => aliasMutation(ctx, input, false),
        updateArtifact: (_, { input }, ctx) => {
          const art = S(ctx).byId.get(input.artifactID);
          if (!art || art.state === 'DELETED') throw userErr(`artifact ${input.artifactID} not found`);
          const has = (k) => Object.prototype.hasOwnProperty.call(input, k) && input[k] !== null;
          if (has('metadata')) {
            let m;
            try { m = JSON.parse(input.metadata); } catch (e) { throw userErr(`invalid metadata: ${e.message}`); }
            if (!m || typeof m !== 'object' || Array.isArray(m)) throw userErr('metadata must be a JSON object');
            art.metadata = input.metadata;
          }
          if (has('description')) art.description = input.description;
          for (const t of input.tagsToAdd || []) if (!art.tags.includes(t.tagName)) art.tags.push(t.tagName);
          for (const t of input.tagsToDelete || []) art.tags = art.tags.filter((x) => x !== t.tagName);
          art.updatedAt = iso(Date.now());
          return { artifact: art, clientMutationId: input.clientMutationId || null };
        },
        deleteArtifact: (_, { input }, ctx) => {
          const art = S(ctx).byId.get(input.artifactID);
          if (!art || art.state === 'DELETED') throw userErr(`artifact ${input.artifactID} not found`);
          const held = S(ctx).aliasesOf(art).filter((x) => !VN.test(x));
          if (held.length && !input.deleteAliases) {
            throw userErr(`cannot delete artifact ${art.coll.name}:v${art.versionIndex}: it has aliases (${held.join(', ')}); pass deleteAliases`);
          }
          S(ctx).admin('delete', { entity: art.coll.ap.entity, project: art.coll.ap.project, name: `${art.coll.name}:v${art.versionIndex}` });
          return { artifact: art, clientMutationId: input.clientMutationId || null };
        },
      },
    },
  };

  function aliasMutation(ctx, input, add) {
    const art = S(ctx).byId.get(input.artifactID);
    if (!art || art.state === 'DELETED') throw userErr(`artifact ${input.artifactID} not found`);
    for (const x of input.aliases) {
      const apx = S(ctx).proj(x.entityName, x.projectName, false);
      const coll = apx && apx.colls.get(x.artifactCollectionName);
      if (!coll || coll !== art.coll) throw userErr(`artifact ${input.artifactID} is not in collection ${x.entityName}/${x.projectName}/${x.artifactCollectionName}`);
      S(ctx).checkAlias(x.alias);
    }
    for (const x of input.aliases) {
      if (add) S(ctx).setAlias(art.coll, art, x.alias);
      else if (art.coll.aliases.get(x.alias) === art) { art.coll.aliases.delete(x.alias); art.updatedAt = iso(Date.now()); }
    }
    return { success: true, clientMutationId: input.clientMutationId || null };
  }
}

module.exports = { Artifacts, resolvers, manifestDigest, md5b64, FEATURES };
