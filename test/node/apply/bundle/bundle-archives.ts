// Tarballs written header by header for the bundle tests: what a release could well contain
// (a large zero-filled file, twenty thousand small files) and what a damaged one looks like.
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';

export interface FileEntry {
  path: string;
  body: Buffer;
  mode?: number;
}

/** A plain tar of regular files, each header a real ustar header with its checksum. */
export function tarOf(files: FileEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const header = new tar.Header({ path: f.path, type: 'File', mode: f.mode ?? 0o644, size: f.body.length, mtime: new Date(0), uid: 0, gid: 0 });
    header.encode();
    blocks.push(header.block as Buffer, f.body, Buffer.alloc((512 - (f.body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** One file of `size` zero bytes, gzipped: deflate's best case, just over 1000:1. */
export function zeroBomb(size: number, extra: FileEntry[] = []): Buffer {
  return gzipSync(tarOf([...extra, { path: 'zeros.bin', body: Buffer.alloc(size) }]), { level: 9 });
}

/** Two files; the second header's name changed after its checksum was written. */
export function badChecksum(first: FileEntry[] = [{ path: 'a.txt', body: Buffer.from('fine\n') }]): Buffer {
  const bytes = tarOf([...first, { path: 'b.txt', body: Buffer.from('damaged header\n') }]);
  const at = bytes.indexOf('b.txt', 0, 'latin1');
  bytes[at] = 'c'.charCodeAt(0);
  return bytes;
}

/** `n` empty files at the top level. */
export function manyFiles(n: number): Buffer {
  return tarOf(Array.from({ length: n }, (_, i) => ({ path: `f${String(i).padStart(6, '0')}`, body: Buffer.alloc(0) })));
}
