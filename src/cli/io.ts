// Small file and argument helpers shared by the CLI commands.
import { open, readFile } from 'node:fs/promises';
import { UpshiftError } from '../core/errors.js';
import type { Signer } from '../trust/keyfile.js';

/** The same key given twice signs once: a duplicate signature adds nothing but bytes. */
export function uniqueSigners(signers: readonly Signer[]): Signer[] {
  const byId = new Map<string, Signer>();
  for (const s of signers) if (!byId.has(s.keyid)) byId.set(s.keyid, s);
  return [...byId.values()];
}

/** A decimal integer argument no smaller than `min`; E_USAGE otherwise (commander passes strings). */
export function parseIntArg(text: string, flag: string, min: number): number {
  const n = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UpshiftError('E_USAGE', `${flag} expects an integer of at least ${min}, got "${text}"`);
  return n;
}

/** Bytes of an input file, or of stdin for "-"; a missing or unreadable file is a usage error. */
export async function readInput(path: string): Promise<Uint8Array> {
  try {
    if (path !== '-') return new Uint8Array(await readFile(path));
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return new Uint8Array(Buffer.concat(chunks));
  } catch (err) {
    throw new UpshiftError('E_USAGE', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Create a file that must not exist yet (E_EXISTS): signed artifacts are never silently replaced. */
export async function writeNewFile(path: string, text: string, mode = 0o644): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UpshiftError('E_EXISTS', `${path} already exists; refusing to overwrite it`, { cause: err });
    throw new UpshiftError('E_USAGE', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
