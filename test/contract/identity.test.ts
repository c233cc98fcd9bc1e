// Fleet identity on every adapter: join tokens spent once, certificates issued with the next
// serial (older ones superseded), revocations and the signed list held for gossip, peers.
// Each write is one transaction: a signer that throws commits nothing, a token spent twice
// at once is spent once.
import t from 'tap';
import type { CertDraft, IssuedCert, RevocationSigner, StateStore } from '../../src/core/store-ports.js';
import type { RevocationRecord } from '../../src/core/records.js';
import { isUpshiftError } from '../../src/core/errors.js';
import { eachStore } from './stores.js';
import { registerPartialPostgres } from './pg-partial.js';

registerPartialPostgres(t);

const token = (hash: string, extra: { nodeId?: string | null; expiresAt?: number; createdAt?: number } = {}) => ({
  tokenHash: hash, labels: { region: 'eu', zone: 'a' }, nodeId: extra.nodeId ?? null, createdAt: extra.createdAt ?? 100, expiresAt: extra.expiresAt ?? 10_000,
});
const signer = (seen: CertDraft[] = []) => (d: CertDraft): IssuedCert => {
  seen.push(d);
  return {
    publicKey: `pk-${d.serial}`, labels: { region: 'eu' }, cert: `{"cert":${d.serial}}`, issuedAt: 1_000, expiresAt: 99_000,
    event: { actor: 'authority', data: { serial: d.serial } },
  };
};
const issue = (store: StateStore, nodeId: string, tokenHash: string | null, at = 500, sign = signer()) =>
  store.identity.issue({ nodeId, tokenHash, at, sign });
const lists: Array<{ seq: number; revoked: RevocationRecord[] }> = [];
const signList: RevocationSigner = (seq, revoked) => {
  lists.push({ seq, revoked });
  return `{"list":${seq},"n":${revoked.length}}`;
};

await eachStore(t, 'a token is kept hashed with its labels, and its creation is in the event log', async (t, store) => {
  await store.identity.addToken(token('h2', { createdAt: 200 }), { actor: 'cli:ann', data: { labels: 2 } });
  await store.identity.addToken(token('h1', { nodeId: 'web-1' }));
  t.same(await store.identity.token('h1'), { ...token('h1', { nodeId: 'web-1' }), usedAt: null, usedBy: null });
  t.same((await store.identity.tokens()).map((x) => x.tokenHash), ['h1', 'h2'], 'in creation order');
  t.equal(await store.identity.token('nope'), null);
  const ev = (await store.events()).filter((e) => e.kind === 'identity.token_created');
  t.same(ev.map((e) => [e.actor, e.data, e.at]), [['cli:ann', { labels: 2 }, 200]]);
  await t.rejects(store.identity.addToken(token('h1')), 'a token hash is kept once');
});

await eachStore(t, 'issuing spends the token, takes the next serial and supersedes the node\'s older certificate', async (t, store) => {
  await store.identity.addToken(token('h1'));
  const seen: CertDraft[] = [];
  const first = await issue(store, 'web-1', 'h1', 500, signer(seen));
  t.match(first, { serial: 1, nodeId: 'web-1', publicKey: 'pk-1', cert: '{"cert":1}', tokenHash: 'h1', revokedAt: null, revokeReason: null });
  t.match(seen[0], { serial: 1, held: null, token: { tokenHash: 'h1', usedAt: 500, usedBy: 'web-1' } });
  t.match(await store.identity.token('h1'), { usedAt: 500, usedBy: 'web-1' });
  const other = await issue(store, 'web-2', null);
  const renewed = await issue(store, 'web-1', null, 700, signer(seen));
  t.same([other.serial, renewed.serial], [2, 3], 'serials are fleet-wide');
  t.match(seen[1], { serial: 3, held: { serial: 1 }, token: null });
  t.same((await store.identity.certs('web-1')).map((c) => [c.serial, c.revokedAt, c.revokeReason]),
    [[1, 700, 'superseded by serial 3'], [3, null, null]]);
  t.same((await store.identity.certs()).map((c) => c.serial), [1, 2, 3]);
  t.equal((await store.identity.latestCert('web-1'))?.serial, 3);
  t.equal(await store.identity.latestCert('nobody'), null);
  t.equal(await store.identity.isRevoked('web-1', 1), true);
  t.equal(await store.identity.isRevoked('web-1', 3), false);
  t.same((await store.events()).filter((e) => e.kind === 'identity.cert_issued').map((e) => e.data), [{ serial: 1 }, { serial: 2 }, { serial: 3 }]);
});

await eachStore(t, 'a token that cannot be spent is refused with E_TOKEN, and a failed issue commits nothing', async (t, store) => {
  await store.identity.addToken(token('for-web-1', { nodeId: 'web-1' }));
  await store.identity.addToken(token('old', { expiresAt: 400 }));
  await store.identity.addToken(token('ok'));
  const refused = async (hash: string, node: string, why: RegExp) => {
    const err = await issue(store, node, hash).catch((e: unknown) => e);
    t.ok(isUpshiftError(err, 'E_TOKEN'), `${hash}: E_TOKEN`);
    t.match((err as Error).message, why);
  };
  await refused('nope', 'web-1', /not known/);
  await refused('old', 'web-1', /expired/);
  await refused('for-web-1', 'web-2', /made for node web-1/);
  await t.rejects(issue(store, 'web-1', 'ok', 500, () => { throw new Error('signing failed'); }), /signing failed/);
  t.match(await store.identity.token('ok'), { usedAt: null, usedBy: null }, 'the signer threw: the token is not spent');
  t.same(await store.identity.certs(), []);
  await issue(store, 'web-1', 'ok');
  await refused('ok', 'web-1', /already used by web-1/);
  t.equal((await issue(store, 'web-1', 'for-web-1')).serial, 2, 'the token made for the node works for it');
});

await eachStore(t, 'the same token redeemed by two joins at once is spent once', async (t, store) => {
  await store.identity.addToken(token('h1'));
  const tries = await Promise.allSettled(['a', 'b', 'c'].map((n) => issue(store, n, 'h1')));
  t.equal(tries.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of tries) if (r.status === 'rejected') t.ok(isUpshiftError(r.reason, 'E_TOKEN'));
  t.equal((await store.identity.certs()).length, 1);
});

await eachStore(t, 'revoking a node signs the next list of every revocation and holds it for gossip', async (t, store) => {
  t.equal(await store.identity.revokeNode({ nodeId: 'web-1', reason: 'lost', at: 1, actor: 'cli:ann', sign: signList }), null, 'never issued');
  t.equal(await store.identity.revocationList(), null);
  await issue(store, 'web-1', null);
  await issue(store, 'web-2', null);
  lists.length = 0;
  const r = await store.identity.revokeNode({ nodeId: 'web-1', reason: 'lost', at: 800, actor: 'cli:ann', sign: signList });
  t.same(r, { serial: 1, already: false, revokedAt: 800, reason: 'lost', list: 1 });
  t.same(lists, [{ seq: 1, revoked: [{ nodeId: 'web-1', serial: 1, revokedAt: 800, reason: 'lost' }] }], 'signed inside, with the new revocation');
  t.equal(await store.identity.revocationList(), '{"list":1,"n":1}');
  t.same(await store.identity.revokeNode({ nodeId: 'web-1', reason: 'again', at: 900, actor: 'cli:ann', sign: signList }),
    { serial: 1, already: true, revokedAt: 800, reason: 'lost', list: null });
  t.same((await store.events()).filter((e) => e.kind === 'identity.cert_revoked').map((e) => [e.actor, e.data]),
    [['cli:ann', { node_id: 'web-1', serial: 1, reason: 'lost', revocation_list: 1 }]]);
  await store.identity.revoke('web-2', 2, 'key leaked', 850);
  await store.identity.revoke('web-2', 2, 'twice', 860);
  t.same(await store.identity.publishRevocationList(signList), { seq: 2, revoked: 2 });
  t.same((await store.identity.revocations()).map((x) => [x.nodeId, x.reason]), [['web-1', 'lost'], ['web-2', 'key leaked']]);
  await t.rejects(store.identity.publishRevocationList(() => { throw new Error('no key'); }), /no key/);
  t.same(await store.identity.publishRevocationList(signList), { seq: 3, revoked: 2 }, 'a failed signing used no seq');
});

await eachStore(t, 'a list taken from gossip is held with its revocations, idempotently', async (t, store) => {
  const revoked = [{ nodeId: 'web-9', serial: 4, revokedAt: 10, reason: 'r' }, { nodeId: 'web-8', serial: 2, revokedAt: 10, reason: 'q' }];
  await store.identity.holdRevocationList('{"list":7}', revoked);
  await store.identity.holdRevocationList('{"list":7}', revoked);
  t.equal(await store.identity.revocationList(), '{"list":7}');
  t.same((await store.identity.revocations()).map((x) => [x.nodeId, x.serial]), [['web-8', 2], ['web-9', 4]]);
  t.equal(await store.identity.isRevoked('web-9', 3), true, 'every serial up to the one named');
  t.equal(await store.identity.isRevoked('web-9', 5), false);
});

await eachStore(t, 'peers are upserted whole and their state changed alone', async (t, store) => {
  const peer = (nodeId: string, lastSeen: number) => ({
    nodeId, url: `https://${nodeId}:7443`, cert: null, labels: { region: 'eu' }, state: 'alive' as const, lastSeen, heartbeat: null,
  });
  await store.identity.upsertPeers([peer('web-2', 5), peer('web-1', 6)]);
  await store.identity.upsertPeers([{ ...peer('web-2', 9), cert: '{"c":1}' }]);
  await store.identity.setPeerState('web-1', 'suspect');
  await store.identity.setPeerState('nobody', 'dead');
  t.same(await store.identity.peer('web-2'), { ...peer('web-2', 9), cert: '{"c":1}' });
  t.same((await store.identity.peers()).map((p) => [p.nodeId, p.state]), [['web-1', 'suspect'], ['web-2', 'alive']]);
  t.equal(await store.identity.peer('nobody'), null);
  await t.rejects(store.identity.upsertPeers([peer('web-3', 1), { ...peer('web-4', 1), state: 'gone' as 'dead' }]));
  t.equal(await store.identity.peer('web-3'), null, 'all or none');
});
