// Private key files: a small JSON document holding an Ed25519 seed. Created exclusively
// with mode 0600 and refused on load when group or others can read it, as ssh does.
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { UpshiftError } from '../core/errors.js';
import { bytesEqual, fromHex, toHex } from './bytes.js';
import { keyIdOf, publicKeyFromSeed, SEED_LENGTH, seedSigner } from './ed25519.js';

export const KEY_FILE_TYPE = 'upshift-ed25519-private-v1';

// A key file is a few hundred bytes; the cap stops a wrong path from being read whole.
const MAX_KEY_FILE_BYTES = 4096;

/** Something that can sign: a key file, or an in-memory seed in tests. */
export interface Signer {
  keyid: string;
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

const keyFileSchema = z.strictObject({
  type: z.literal(KEY_FILE_TYPE),
  keyid: z.string(),
  public: z.string().regex(/^[0-9a-f]{64}$/),
  seed: z.string().regex(/^[0-9a-f]{64}$/),
});

/** A signer over a 32-byte seed. The seed is copied and stays inside the closure. */
export function signerFromSeed(seed: Uint8Array): Signer {
  if (seed.length !== SEED_LENGTH) throw new UpshiftError('E_KEY_INVALID', `an Ed25519 seed is ${SEED_LENGTH} bytes, got ${seed.length}`);
  const secret = Uint8Array.from(seed);
  const publicKey = publicKeyFromSeed(secret);
  return { keyid: keyIdOf(publicKey), publicKey, sign: seedSigner(secret) };
}

/** Create a new key file (a random seed unless given); never overwrites one (E_EXISTS). */
export async function generateKeyFile(path: string, seed = new Uint8Array(randomBytes(SEED_LENGTH))): Promise<{ keyid: string; publicKey: Uint8Array }> {
  const signer = signerFromSeed(seed);
  const doc = { type: KEY_FILE_TYPE, keyid: signer.keyid, public: toHex(signer.publicKey), seed: toHex(seed) };
  let fh;
  try {
    // 'wx' is O_CREAT|O_EXCL: the mode applies from the first byte and an existing key survives.
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UpshiftError('E_EXISTS', `key file ${path} already exists; refusing to overwrite it`, { cause: err });
    }
    throw new UpshiftError('E_CONFIG', `cannot create key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await fh.writeFile(`${JSON.stringify(doc, null, 2)}\n`);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw new UpshiftError('E_CONFIG', `cannot write key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  await fh.close();
  await syncDir(dirname(path));
  return { keyid: signer.keyid, publicKey: signer.publicKey };
}

// Without it a crash right after `keys gen` can lose the directory entry of the new key.
async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r').catch(() => null);
  if (!dh) return;
  await dh.sync().catch(() => undefined);
  await dh.close();
}

/** Load a key file as a Signer: E_KEY_MISSING, E_KEY_PERMS or E_KEY_INVALID when it cannot be used. */
export async function loadKeyFile(path: string): Promise<Signer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UpshiftError('E_KEY_MISSING', `key file ${path} does not exist; create one with \`upshift keys gen\``, { cause: err });
    }
    throw new UpshiftError('E_KEY_INVALID', `cannot open key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let text: string;
  try {
    // fstat on the open handle checks the file actually read, not whatever the path names later.
    const st = await fh.stat();
    if (!st.isFile()) throw new UpshiftError('E_KEY_INVALID', `key file ${path} is not a regular file`);
    const mode = st.mode & 0o777;
    if (mode & 0o077) {
      throw new UpshiftError(
        'E_KEY_PERMS',
        `key file ${path} has mode 0${mode.toString(8)}, readable by group or others; run \`chmod 600 ${path}\``,
        { details: { path, mode: `0${mode.toString(8)}` } },
      );
    }
    if (st.size > MAX_KEY_FILE_BYTES) throw new UpshiftError('E_KEY_INVALID', `key file ${path} is too large to be a key`);
    text = await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
  return parseKeyFile(path, text);
}

function parseKeyFile(path: string, text: string): Signer {
  const invalid = (reason: string, cause?: unknown): UpshiftError =>
    new UpshiftError('E_KEY_INVALID', `key file ${path} is not a valid upshift key: ${reason}`, cause === undefined ? {} : { cause });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid('not JSON', err);
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) throw invalid(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  const doc = parsed.data;
  const signer = signerFromSeed(fromHex(doc.seed, SEED_LENGTH) as Uint8Array);
  // A public key that does not match the seed means the file was edited or mixed up.
  if (!bytesEqual(signer.publicKey, fromHex(doc.public, 32) as Uint8Array)) throw invalid('"public" does not match "seed"');
  if (doc.keyid !== signer.keyid) throw invalid(`"keyid" should be ${signer.keyid}`);
  return signer;
}

/** Load key files as signers, in order (E_KEY_MISSING, E_KEY_PERMS, E_KEY_INVALID). */
export async function loadSigners(paths: readonly string[]): Promise<Signer[]> {
  const signers: Signer[] = [];
  for (const path of paths) signers.push(await loadKeyFile(path));
  return signers;
}
