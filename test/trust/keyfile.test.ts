import t from 'tap';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../../src/trust/bytes.js';
import { verifySignature } from '../../src/trust/ed25519.js';
import { generateKeyFile, KEY_FILE_TYPE, loadKeyFile, signerFromSeed } from '../../src/trust/keyfile.js';
import { tempDir } from '../helpers/tmp.js';

t.test('a generated key file has mode 0600 and loads as a signer for the same key', async (t) => {
  const path = join(tempDir(t), 'signing.key');
  const made = await generateKeyFile(path);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.match(made.keyid, /^ed25519:[0-9a-f]{16}$/);
  const doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  t.same(Object.keys(doc).sort(), ['keyid', 'public', 'seed', 'type']);
  t.equal(doc.type, KEY_FILE_TYPE);
  const signer = await loadKeyFile(path);
  t.equal(signer.keyid, made.keyid);
  t.equal(toHex(signer.publicKey), toHex(made.publicKey));
  const msg = new TextEncoder().encode('hello');
  t.ok(verifySignature(signer.sign(msg), msg, made.publicKey));
});

t.test('generating over an existing key file fails with E_EXISTS and keeps the old key', async (t) => {
  const path = join(tempDir(t), 'signing.key');
  await generateKeyFile(path);
  const before = readFileSync(path, 'utf8');
  await t.rejects(generateKeyFile(path), { code: 'E_EXISTS' });
  t.equal(readFileSync(path, 'utf8'), before);
});

t.test('a missing key file fails with E_KEY_MISSING', async (t) => {
  await t.rejects(loadKeyFile(join(tempDir(t), 'nope.key')), { code: 'E_KEY_MISSING' });
});

t.test('a key file with mode 0644 fails with E_KEY_PERMS naming the mode and the fix', async (t) => {
  const path = join(tempDir(t), 'signing.key');
  await generateKeyFile(path);
  chmodSync(path, 0o644);
  await t.rejects(loadKeyFile(path), { code: 'E_KEY_PERMS', message: /0644.*chmod 600/ });
  chmodSync(path, 0o640);
  await t.rejects(loadKeyFile(path), { code: 'E_KEY_PERMS', message: /0640/ });
  chmodSync(path, 0o400);
  t.ok(await loadKeyFile(path), 'owner read-only is fine');
});

t.test('a key file whose public key does not match its seed fails with E_KEY_INVALID', async (t) => {
  const path = join(tempDir(t), 'signing.key');
  await generateKeyFile(path);
  const doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  const other = signerFromSeed(new Uint8Array(32).fill(9));
  writeFileSync(path, JSON.stringify({ ...doc, public: toHex(other.publicKey) }));
  await t.rejects(loadKeyFile(path), { code: 'E_KEY_INVALID', message: /does not match/ });
});

t.test('key files that are not JSON, have the wrong shape or a wrong keyid fail with E_KEY_INVALID', async (t) => {
  const dir = tempDir(t);
  const seed = new Uint8Array(32).fill(3);
  const s = signerFromSeed(seed);
  const good = { type: KEY_FILE_TYPE, keyid: s.keyid, public: toHex(s.publicKey), seed: toHex(seed) };
  const variants: Record<string, string> = {
    'not JSON': 'seed=abc',
    'another type': JSON.stringify({ ...good, type: 'ssh-ed25519' }),
    'a short seed': JSON.stringify({ ...good, seed: 'abcd' }),
    'an extra field': JSON.stringify({ ...good, comment: 'x' }),
    'a wrong keyid': JSON.stringify({ ...good, keyid: 'ed25519:0000000000000000' }),
  };
  for (const [name, content] of Object.entries(variants)) {
    const path = join(dir, `${name.replace(/ /g, '-')}.key`);
    writeFileSync(path, content, { mode: 0o600 });
    await t.rejects(loadKeyFile(path), { code: 'E_KEY_INVALID' }, name);
  }
  const path = join(dir, 'good.key');
  writeFileSync(path, JSON.stringify(good), { mode: 0o600 });
  t.equal((await loadKeyFile(path)).keyid, s.keyid);
});

t.test('a directory in place of a key file fails with E_KEY_INVALID', async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o700);
  await t.rejects(loadKeyFile(dir), { code: 'E_KEY_INVALID' });
});
