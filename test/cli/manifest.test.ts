import t from 'tap';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diag, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const payload = {
  schema: 'upshift.manifest/v1',
  fleet: 'edge',
  track: 'testnet',
  seq: 7,
  version: 'v1.4.0',
  commit: '0123456789abcdef0123456789abcdef01234567',
  code_hash: 'e'.repeat(64),
  created_at: '2025-06-01T00:00:00.000Z',
  expires_at: '2025-07-01T00:00:00.000Z',
  kind: 'release',
  targets: 'all',
  evidence: { run_id: 'run-1', test: { passed: 40, failed: 0, skipped: 1, pass_rate: 1 }, benchmark: null, notes: [] },
};
const NOW = ['--now', '2025-06-15T00:00:00Z'];

/** An authority dir (config trusts keys/release.key) holding payload.json and its signed m.json. */
async function signed(t: { teardown(fn: () => void): void }): Promise<{ dir: string; keyid: string; pub: string }> {
  const dir = tempDir(t);
  const init = await runCli(['init', '--authority', '--fleet', 'edge', '--node-id', 'auth-1', '--json'], { cwd: dir });
  if (init.code !== 0) throw new Error(init.stdout + init.stderr);
  // Hand-written formatting: sign must canonicalize, not sign these bytes.
  writeFileSync(join(dir, 'payload.json'), `${JSON.stringify(payload, null, 4)}\n`);
  const sign = await runCli(['manifest', 'sign', 'payload.json', '--key', 'keys/release.key', '--out', 'm.json'], { cwd: dir });
  if (sign.code !== 0) throw new Error(sign.stdout + sign.stderr);
  const { keyid, public: pub } = init.json().keys.release;
  return { dir, keyid, pub };
}

// Tests that only read share one signed fixture; each spawn of the CLI costs half a second.
const shared = await signed(t);
const verify = (args: string[] = [], file = 'm.json') => runCli(['manifest', 'verify', file, '--json', ...NOW, ...args], { cwd: shared.dir });

t.test('a manifest signed by the release key verifies with the config and round-trips', async (t) => {
  const { dir, keyid } = shared;
  const r = await verify(['--fleet', 'edge', '--track', 'testnet', '--floor', '6']);
  t.equal(r.code, 0, 'exits 0', diag(r));
  const out = r.json();
  t.equal(out.ok, true);
  t.same(out.manifest, payload);
  t.same(out.keyids, [keyid]);
  t.equal(out.acceptance, 'newer');

  const text = await runCli(['manifest', 'verify', 'm.json', ...NOW], { cwd: dir });
  t.equal(text.code, 0, 'exits 0', diag(text));
  t.match(text.stdout, /verified testnet#7 \(release\) for fleet edge/);
  t.match(text.stdout, /commit +0123456789abcdef0123456789abcdef01234567/);
  t.match(text.stdout, new RegExp(`signed by +${keyid}`));
});

t.test('sign prints the envelope on stdout and reads the payload from stdin', async (t) => {
  const { dir } = shared;
  const r = await runCli(['manifest', 'sign', '-', '--key', 'keys/release.key'], { cwd: dir, input: JSON.stringify(payload) });
  t.equal(r.code, 0, 'exits 0', diag(r));
  t.equal(r.stdout, readFileSync(join(dir, 'm.json'), 'utf8'), 'the same canonical bytes whatever the formatting');
  const again = await runCli(['manifest', 'sign', 'payload.json', '--key', 'keys/release.key', '--out', 'm.json', '--json'], { cwd: dir });
  t.equal(again.code, 2);
  t.equal(again.json().error.code, 'E_EXISTS', 'a signed manifest is never overwritten');
});

t.test('a manifest with one payload byte changed fails with E_SIG_INVALID and exit 1', async (t) => {
  const { dir } = shared;
  const env = JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8'));
  const bytes = Buffer.from(env.payload, 'base64');
  // "seq":7 → "seq":8: still a valid manifest, so only the signature can catch it.
  const at = bytes.indexOf('"seq":7') + 6;
  bytes[at] = 0x38;
  writeFileSync(join(dir, 'tampered.json'), JSON.stringify({ ...env, payload: bytes.toString('base64') }));
  const r = await verify([], 'tampered.json');
  t.equal(r.code, 1);
  t.equal(r.json().ok, false);
  t.equal(r.json().error.code, 'E_SIG_INVALID');
});

t.test('verify refuses a manifest for another fleet, track or below the floor, or expired', async (t) => {
  const cases: Array<[string[], string]> = [
    [['--fleet', 'other'], 'E_WRONG_FLEET'],
    [['--track', 'production'], 'E_WRONG_TRACK'],
    [['--floor', '8'], 'E_ROLLBACK'],
    [['--now', '2025-07-01T00:00:00Z'], 'E_EXPIRED'],
  ];
  for (const [args, code] of cases) {
    const r = await verify(args);
    t.equal(r.code, 1, args.join(' '));
    t.equal(r.json().error.code, code, args.join(' '));
  }
  const same = await verify(['--floor', '7']);
  t.equal(same.json().acceptance, 'same', 'the floor itself is a re-delivery, not a refusal');
});

/** Sign a variant of the payload with the shared release key into `file`; the signer checks only the schema. */
async function signVariant(file: string, over: Partial<typeof payload>): Promise<void> {
  const input = JSON.stringify({ ...payload, ...over });
  const r = await runCli(['manifest', 'sign', '-', '--key', 'keys/release.key', '--out', file], { cwd: shared.dir, input });
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
}

t.test('verify refuses a manifest valid until 9999 (E_MANIFEST_TTL) or created a year ahead (E_NOT_YET_VALID)', async (t) => {
  await signVariant('forever.json', { expires_at: '9999-12-31T23:59:59.999Z' });
  await signVariant('future.json', { created_at: '2026-06-15T00:00:00.000Z', expires_at: '2026-07-01T00:00:00.000Z' });
  const forever = await verify([], 'forever.json');
  t.equal(forever.code, 1, 'exit 1', diag(forever));
  t.match(forever.json().error, { code: 'E_MANIFEST_TTL', details: { max_ttl_ms: 90 * 86_400_000 } });
  const future = await verify([], 'future.json');
  t.equal(future.code, 1, 'exit 1', diag(future));
  t.equal(future.json().error.code, 'E_NOT_YET_VALID');
  const text = await runCli(['manifest', 'verify', 'forever.json', ...NOW], { cwd: shared.dir });
  t.match(text.stderr, /E_MANIFEST_TTL: manifest testnet#7 is valid for \d+(\.\d)?d .* longer than the maximum 90d/);
  const pubkey = await verify(['--pubkey', shared.pub], 'forever.json');
  t.equal(pubkey.json().error?.code, 'E_MANIFEST_TTL', 'without the config the default maximum applies');
});

t.test("verify with the config's keys checks the config's fleet and tracks without being told", async (t) => {
  await signVariant('other-fleet.json', { fleet: 'other' });
  await signVariant('staging.json', { track: 'staging' });
  const fleet = await verify([], 'other-fleet.json');
  t.equal(fleet.code, 1, 'exit 1', diag(fleet));
  t.match(fleet.json().error, { code: 'E_WRONG_FLEET', details: { manifest_fleet: 'other', fleet: 'edge' } });
  const track = await verify([], 'staging.json');
  t.equal(track.code, 1, 'exit 1', diag(track));
  t.match(track.json().error, { code: 'E_WRONG_TRACK', details: { manifest_track: 'staging', tracks: ['testnet', 'production'] } });
  const production = await verify([]);
  t.equal(production.code, 0, 'a track of the config passes', diag(production));
  const asked = await verify(['--fleet', 'other'], 'other-fleet.json');
  t.equal(asked.code, 0, '--fleet names the fleet to check instead', diag(asked));
  const byKey = await verify(['--pubkey', shared.pub], 'other-fleet.json');
  t.equal(byKey.code, 0, 'with --pubkey the config is not read', diag(byKey));
});

t.test('--pubkey verifies without any config; another key is E_UNKNOWN_KEY', async (t) => {
  const { dir, pub } = shared;
  const elsewhere = tempDir(t);
  const m = join(dir, 'm.json');
  const ok = await runCli(['manifest', 'verify', m, '--pubkey', pub, '--json', ...NOW], { cwd: elsewhere });
  t.equal(ok.code, 0, 'exits 0', diag(ok));
  const other = await runCli(['keys', 'gen', '--out', 'other.key', '--json'], { cwd: elsewhere });
  const r = await runCli(['manifest', 'verify', m, '--pubkey', other.json().public, '--json', ...NOW], { cwd: elsewhere });
  t.equal(r.code, 1);
  t.equal(r.json().error.code, 'E_UNKNOWN_KEY');
  const twoOfOne = await runCli(['manifest', 'verify', m, '--pubkey', pub, '--pubkey', other.json().public, '--threshold', '2', '--json', ...NOW], { cwd: elsewhere });
  t.equal(twoOfOne.code, 1);
  t.equal(twoOfOne.json().error.code, 'E_THRESHOLD');
  const noConfig = await runCli(['manifest', 'verify', m, '--json'], { cwd: elsewhere });
  t.equal(noConfig.code, 2, 'without --pubkey a config is needed');
  t.equal(noConfig.json().error.code, 'E_CONFIG');
});

t.test('a key file readable by others is refused with E_KEY_PERMS and nothing is signed', async (t) => {
  const { dir } = await signed(t); // its own: this test loosens the key's mode
  chmodSync(join(dir, 'keys', 'release.key'), 0o644);
  const r = await runCli(['manifest', 'sign', 'payload.json', '--key', 'keys/release.key', '--out', 'again.json', '--json'], { cwd: dir });
  t.equal(r.code, 2);
  t.equal(r.json().error.code, 'E_KEY_PERMS');
  t.notOk(existsSync(join(dir, 'again.json')));
});

t.test('sign refuses payloads with duplicate keys, bad JSON or a bad schema', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['a key spelled twice (once escaped)', JSON.stringify(payload).replace('"seq":7', '"seq":7,"s\\u0065q":9'), 'E_MANIFEST_PARSE'],
    ['truncated JSON', '{"schema": ', 'E_MANIFEST_PARSE'],
    ['a short commit id', JSON.stringify({ ...payload, commit: 'abc' }), 'E_MANIFEST_SCHEMA'],
    ['an unknown field', JSON.stringify({ ...payload, extra: true }), 'E_MANIFEST_SCHEMA'],
  ];
  for (const [what, input, code] of cases) {
    const r = await runCli(['manifest', 'sign', '-', '--key', 'keys/release.key', '--json'], { cwd: shared.dir, input });
    t.equal(r.code, 1, `${what}: exit 1`);
    t.equal(r.json().error.code, code, `${what}: ${code}`);
  }
});

t.test('verify reports a file that is not an envelope as E_MANIFEST_PARSE', async (t) => {
  const r = await verify([], 'payload.json');
  t.equal(r.code, 1);
  t.equal(r.json().error.code, 'E_MANIFEST_PARSE');
  const missing = await verify([], 'nope.json');
  t.equal(missing.code, 2);
  t.equal(missing.json().error.code, 'E_USAGE');
});
