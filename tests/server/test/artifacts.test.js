// Artifacts on the test server: the reference's documents validate, names resolve, digests are real MD5s of the served bytes, storage URLs are signed, faults and mutations behave.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { parse, validate } = require('graphql');
const { schema } = require('../schema');
const { withServer, request } = require('./helpers');

const REF = [
  path.resolve(__dirname, '../../../../shared/reference/wandb-artifacts.md'),
  path.resolve(__dirname, '../../../shared/reference/wandb-artifacts.md'),
].find((p) => fs.existsSync(p));

function documents(md) {
  const part = md.slice(md.indexOf('## Appendix A'), md.indexOf('## Appendix B'));
  const out = {};
  const re = /^### (\w+)[^\n]*\n```graphql\n([\s\S]*?)```/gm;
  let m;
  while ((m = re.exec(part))) out[m[1]] = m[2];
  return out;
}

const DOCS = REF ? documents(fs.readFileSync(REF, 'utf8')) : null;
const md5 = (b) => crypto.createHash('md5').update(b).digest('base64');

test('every Appendix A document of wandb-artifacts.md validates against the served schema', { skip: !REF && 'no ../shared/reference' }, () => {
  assert.ok(Object.keys(DOCS).length >= 20, `found ${Object.keys(DOCS).length} documents`);
  for (const [name, q] of Object.entries(DOCS)) {
    const errs = validate(schema, parse(q)).map((e) => e.message);
    assert.deepStrictEqual(errs, [], name);
  }
});

test('names resolve by alias, version, latest, digest; missing ones are null', { skip: !REF && 'no ../shared/reference' }, async () => {
  const { client, close } = await withServer();
  try {
    const dump = await client.admin('GET', 'artifacts/rw-team/vision');
    const coll = dump.collections.find((c) => c.name === 'mnist-small');
    const byName = async (name) => {
      const r = await client.gql(DOCS.ArtifactMembershipByName, { entity: 'rw-team', project: 'vision', name });
      assert.ok(!r.errors, JSON.stringify(r.errors));
      return r.data.project.artifactCollectionMembership;
    };
    const best = await byName('mnist-small:best');
    assert.strictEqual(best.versionIndex, Number(coll.aliases.best.slice(1)));
    assert.strictEqual(best.artifact.digest, coll.versions[best.versionIndex].digest);
    assert.ok(!('aliases' in best.artifact), '$includeAliases false leaves artifact.aliases out');
    const last = coll.versions.length - 1;
    assert.strictEqual((await byName('mnist-small:latest')).versionIndex, last);
    assert.strictEqual((await byName('mnist-small')).versionIndex, last);
    assert.strictEqual((await byName('mnist-small:v0')).versionIndex, 0);
    assert.strictEqual((await byName(`mnist-small:${coll.versions[0].digest}`)).versionIndex, 0);
    assert.strictEqual(await byName('mnist-small:v99'), null);
    assert.strictEqual(await byName('nope:latest'), null);
    const r = await client.gql(DOCS.ArtifactMembershipByName, { entity: 'rw-team', project: 'nope', name: 'x' });
    assert.strictEqual(r.data.project, null);
  } finally { await close(); }
});

test('file digests are the MD5 of the bytes served; the manifest digest is recomputable; storage needs its signature, not the key', { skip: !REF && 'no ../shared/reference' }, async () => {
  const { client, close } = await withServer();
  try {
    const dump = await client.admin('GET', 'artifacts/rw-team/vision');
    for (const coll of dump.collections) {
      for (const v of coll.versions) {
        const r = await client.gql(DOCS.GetArtifactMembershipFiles, { entity: 'rw-team', project: 'vision', collection: coll.name, alias: v.version, fileNames: null, perPage: 2 });
        assert.ok(!r.errors, JSON.stringify(r.errors));
        const files = r.data.project.artifactCollection.artifactMembership.files;
        assert.strictEqual(files.totalCount, v.fileCount);
        for (const e of files.edges) {
          const res = await request(e.node.directUrl); // no Authorization header
          assert.strictEqual(res.status, 200);
          assert.strictEqual(md5(res.body), e.node.digest, `${coll.name}:${v.version} ${e.node.name}`);
          assert.strictEqual(res.body.length, e.node.sizeBytes);
          const bad = await request(e.node.directUrl.replace(/sig=[0-9a-f]+/, 'sig=0'));
          assert.strictEqual(bad.status, 403);
        }
        const m = await client.gql(DOCS.FetchArtifactManifest, { id: v.id });
        const man = JSON.parse((await request(m.data.artifact.currentManifest.file.directUrl)).body.toString('utf8'));
        const paths = Object.keys(man.contents).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const text = 'wandb-artifact-manifest-v1\n' + paths.map((p) => `${p}:${man.contents[p].digest}\n`).join('');
        assert.strictEqual(crypto.createHash('md5').update(text, 'utf8').digest('hex'), v.digest);
        assert.strictEqual(Object.values(man.contents).reduce((s, e) => s + e.size, 0), v.size);
      }
    }
    const log = await client.admin('GET', 'requests?path=/storage/');
    assert.ok(log.length > 0 && log.every((e) => e.auth_header === false), 'storage requests are recorded without an Authorization header');
  } finally { await close(); }
});

test('a corrupted file is served with other bytes; mutations move, refuse and delete', { skip: !REF && 'no ../shared/reference' }, async () => {
  const { client, close } = await withServer();
  try {
    await client.admin('POST', 'artifacts/corrupt', { entity: 'rw-team', project: 'vision', name: 'mnist-small:v1', path: 'train.csv' });
    const r = await client.gql(DOCS.GetArtifactMembershipFiles, { entity: 'rw-team', project: 'vision', collection: 'mnist-small', alias: 'v1', fileNames: ['train.csv'] });
    const node = r.data.project.artifactCollection.artifactMembership.files.edges[0].node;
    const res = await request(node.directUrl);
    assert.notStrictEqual(md5(res.body), node.digest);
    assert.strictEqual(res.body.length, node.sizeBytes);

    const dump = await client.admin('GET', 'artifacts/rw-team/vision');
    const coll = dump.collections.find((c) => c.name === 'resnet-demo');
    const v0 = coll.versions[0];
    const input = (alias) => ({ input: { artifactID: v0.id, aliases: [{ alias, artifactCollectionName: 'resnet-demo', entityName: 'rw-team', projectName: 'vision' }] } });
    const add = await client.gql(DOCS.AddAliases, input('production'));
    assert.deepStrictEqual(add.data, { result: { success: true } });
    const after = (await client.admin('GET', 'artifacts/rw-team/vision')).collections.find((c) => c.name === 'resnet-demo');
    assert.strictEqual(after.aliases.production, 'v0', 'adding an alias another version holds moves it');
    assert.ok(!after.versions[1].aliases.includes('production'));
    const vn = await client.gql(DOCS.AddAliases, input('v7'));
    assert.match(vn.errors[0].message, /version alias/);
    const del = await client.gql(DOCS.DeleteArtifact, { input: { artifactID: v0.id, deleteAliases: false } });
    assert.match(del.errors[0].message, /has aliases/);
    const del2 = await client.gql(DOCS.DeleteArtifact, { input: { artifactID: v0.id, deleteAliases: true } });
    assert.strictEqual(del2.data.result.artifact.id, v0.id);
    const gone = (await client.admin('GET', 'artifacts/rw-team/vision')).collections.find((c) => c.name === 'resnet-demo');
    assert.strictEqual(gone.versions[0].state, 'DELETED');
    assert.strictEqual(gone.aliases.production, undefined);
  } finally { await close(); }
});
