// Assets of a feed read from a file path (an air-gapped node with a copied feed directory):
// the same caps and checks as a download, without HTTP.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { UpshiftError } from '../core/errors.js';

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    throw new UpshiftError('E_FETCH', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** A small document (the manifest) of at most maxBytes. */
export async function readLocalAsset(url: string, maxBytes: number): Promise<string> {
  const path = fileURLToPath(url);
  if ((await sizeOf(path)) > maxBytes) {
    throw new UpshiftError('E_DOWNLOAD_TOO_LARGE',
      `${path} is longer than ${maxBytes} bytes`,
    );
  }
  return readFile(path, 'utf8');
}

/** Copy a bundle into the staging dir: exactly `length` bytes with sha256 `sha256`. */
export async function copyLocalAsset(url: string, dest: string, length: number, sha256: string): Promise<void> {
  const path = fileURLToPath(url);
  const size = await sizeOf(path);
  if (size > length) {
    throw new UpshiftError('E_DOWNLOAD_TOO_LARGE',
      `${path} is ${size} bytes, longer than the ${length} announced`,
      { details: { size, length } },
    );
  }
  try {
    await copyFile(path, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new UpshiftError('E_DISK_FULL',
        `the disk filled while copying ${path}`,
        { cause: err },
      );
    }
    throw err;
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(dest)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  if (size !== length || digest !== sha256) {
    throw new UpshiftError('E_CHECKSUM', `${path}: ${size} bytes with sha256 ${digest}, expected ${length} bytes with sha256 ${sha256}`, {
      details: { got: size, length, sha256: digest, expected: sha256 },
    });
  }
}
