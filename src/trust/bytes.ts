// Strict hex and base64. Buffer's decoders skip characters they do not understand, so a
// lenient decode would let two different strings name the same key or signature; every
// decoder here insists that re-encoding gives back the input.

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Decode hex (either case); null if it is not hex or not `length` bytes long. */
export function fromHex(hex: string, length?: number): Uint8Array | null {
  if (!HEX.test(hex)) return null;
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  if (length !== undefined && bytes.length !== length) return null;
  return bytes;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Decode standard, padded base64; null unless the input is the canonical encoding of its bytes. */
export function fromBase64(text: string): Uint8Array | null {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return null;
  return new Uint8Array(bytes);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
