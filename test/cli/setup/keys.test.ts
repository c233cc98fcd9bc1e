import t from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

/** An authority directory from `upshift init`: config trusts keys/release.key. */
async function authority(t: { teardown(fn: () => void): void }): Promise<{ dir: string; releaseKeyid: string }> {
  const dir = tempDir(t);
  const r = await runCli(['init', '--authority', '--node-id', 'auth-1', '--json'], { cwd: dir });
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  return { dir, releaseKeyid: r.json().keys.release.keyid };
}

async function gen(dir: string, name: string): Promise<{ keyid: string; public: string }> {
  const r = await runCli(['keys', 'gen', '--out', name, '--json'], { cwd: dir });
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  return r.json();
}

// One authority (trusting keys/release.key) and two new keys, shared by the rotation tests.
// Set up before the first t.test: an await between tests lets tap end the file early.
const { dir, releaseKeyid } = await authority(t);
const n1 = await gen(dir, 'n1.key');
const n2 = await gen(dir, 'n2.key');
const rotate = (...args: string[]) => runCli(['keys', 'rotate', ...args], { cwd: dir });
const verifyRotation = (file: string, current: string, input?: string) =>
  runCli(['keys', 'verify-rotation', file, '--current-version', current, '--json'], { cwd: dir, ...(input ? { input } : {}) });

t.test('keys gen writes a private key file and prints its keyid and public key', async (t) => {
  const home = tempDir(t);
  const r = await runCli(['keys', 'gen', '--out', 'sub/dir/a.key'], { cwd: home });
  t.equal(r.code, 0, 'exits 0', diag(r));
  t.match(r.stdout, /keyid: +ed25519:[0-9a-f]{16}\npublic: [0-9a-f]{64}/);
  const file = join(home, 'sub', 'dir', 'a.key');
  t.equal(statSync(file).mode & 0o777, 0o600);
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  t.match(r.stdout, doc.keyid);
  t.match(r.stdout, doc.public);
});

t.test('keys gen refuses to overwrite an existing key with E_EXISTS', async (t) => {
  const home = tempDir(t);
  const first = await gen(home, 'a.key');
  const before = readFileSync(join(home, 'a.key'), 'utf8');
  const r = await runCli(['keys', 'gen', '--out', 'a.key', '--json'], { cwd: home });
  t.equal(r.code, 2);
  t.equal(r.json().ok, false);
  t.equal(r.json().error.code, 'E_EXISTS');
  t.equal(readFileSync(join(home, 'a.key'), 'utf8'), before, 'the key is untouched');
  t.match(before, first.keyid);
});

t.test('a rotation signed by the old and the new keys verifies and prints the new keyset', async (t) => {
  const rot = await rotate('--new', 'n1.key', '--new', 'n2.key', '--threshold', '2', '--keyset-version', '2', '--sign-with', 'keys/release.key', '--out', 'rot-both.json');
  t.equal(rot.code, 0, 'rotate exits 0', diag(rot));
  const envelope = JSON.parse(readFileSync(join(dir, 'rot-both.json'), 'utf8'));
  t.same(envelope.signatures.map((s: { keyid: string }) => s.keyid).sort(), [releaseKeyid, n1.keyid, n2.keyid].sort());

  const r = await verifyRotation('rot-both.json', '1');
  t.equal(r.code, 0, 'verify-rotation exits 0', diag(r));
  const out = r.json();
  t.equal(out.version, 2);
  t.equal(out.keyset.threshold, 2);
  t.same(out.keyset.keys.map((k: { public: string }) => k.public).sort(), [n1.public, n2.public].sort());

  const text = await runCli(['keys', 'verify-rotation', 'rot-both.json', '--current-version', '1'], { cwd: dir });
  t.match(text.stdout, /verifies/);
  t.match(text.stdout, `- public: ${n1.public}`, 'prints a trust section to paste into upshift.yaml');
});

t.test('a rotation printed to stdout can be verified from stdin', async (t) => {
  const rot = await rotate('--new', 'n1.key', '--sign-with', 'keys/release.key', '--keyset-version', '5');
  t.equal(rot.code, 0, 'rotate exits 0', diag(rot));
  const r = await verifyRotation('-', '4', rot.stdout);
  t.equal(r.code, 0, 'verify-rotation exits 0', diag(r));
  t.equal(r.json().version, 5);
});

t.test('a rotation signed by the new keys only is refused', async (t) => {
  const rot = await rotate('--new', 'n1.key', '--sign-with', 'n1.key', '--keyset-version', '2', '--out', 'rot-new-only.json');
  t.equal(rot.code, 0, 'rotate exits 0', diag(rot));
  const r = await verifyRotation('rot-new-only.json', '1');
  t.equal(r.code, 1);
  t.equal(r.json().error.code, 'E_UNKNOWN_KEY', 'no signature is by a key trusted today');
});

t.test('a rotation that the new keyset does not sign itself is refused', async (t) => {
  const rot = await rotate('--new', 'n1.key', '--new', 'n2.key', '--threshold', '2', '--sign-with', 'keys/release.key', '--keyset-version', '2');
  const env = JSON.parse(rot.stdout);
  // Drop n2's signature (the last): the old key still signs, but the new keyset needs two.
  env.signatures = env.signatures.slice(0, -1);
  writeFileSync(join(dir, 'rot-short.json'), JSON.stringify(env));
  const r = await verifyRotation('rot-short.json', '1');
  t.equal(r.code, 1);
  t.equal(r.json().error.code, 'E_THRESHOLD');
});

t.test('an old rotation replayed at its own version is refused with E_ROLLBACK', async (t) => {
  await rotate('--new', 'n1.key', '--sign-with', 'keys/release.key', '--keyset-version', '2', '--out', 'rot-v2.json');
  const r = await verifyRotation('rot-v2.json', '2');
  t.equal(r.code, 1);
  t.equal(r.json().error.code, 'E_ROLLBACK');
});

t.test('a rotation that jumps from keyset version 1 to 3 is refused with E_KEYSET_GAP', async (t) => {
  await rotate('--new', 'n1.key', '--sign-with', 'keys/release.key', '--keyset-version', '3', '--out', 'rot-v3.json');
  const r = await verifyRotation('rot-v3.json', '1');
  t.equal(r.code, 1, 'exit 1', diag(r));
  t.match(r.json().error, { code: 'E_KEYSET_GAP', details: { expected: 2 } });
  const text = await runCli(['keys', 'verify-rotation', 'rot-v3.json', '--current-version', '1'], { cwd: dir });
  t.match(text.stderr, /E_KEYSET_GAP: keyset version 3 skips ahead of the current version 1; expected 2/);
  t.equal(text.stdout, '', 'no trust section is printed');
});

t.test('rotate refuses impossible thresholds and bad numbers as usage errors', async (t) => {
  const base = ['--new', 'n1.key', '--sign-with', 'keys/release.key'];
  const tooHigh = await rotate(...base, '--keyset-version', '2', '--threshold', '2');
  t.equal(tooHigh.code, 2);
  t.match(tooHigh.stderr, /E_CONFIG/);
  const notNumber = await rotate(...base, '--keyset-version', 'two');
  t.equal(notNumber.code, 2);
  t.match(notNumber.stderr, /E_USAGE: --keyset-version expects an integer/);
  t.equal(notNumber.stdout, '', 'nothing is signed');
});
