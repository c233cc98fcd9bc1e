// Which addresses gossip may call (SPEC "Node agent": no peer address is called on a peer's
// word alone). A peer URL is http or https with no userinfo, query or fragment, and a host
// that is never unspecified, link-local, multicast or a cloud metadata endpoint. With
// `gossip.allow` set, the host must also match an entry there: a host name, `*.suffix`, or an
// IP range. Pure: names are matched as names here; the HTTP transport checks the addresses a
// name resolves to against the same forbidden ranges before it connects.
import { UpshiftError } from './errors.js';

export const MAX_PEER_URL_LENGTH = 256;

export interface Ip {
  v: 4 | 6;
  bytes: Uint8Array;
}

interface Cidr {
  ip: Ip;
  bits: number;
}

type AllowEntry = { kind: 'cidr'; cidr: Cidr } | { kind: 'name'; name: string; wildcard: boolean };

function parseV4(text: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : null;
}

function parseV6(text: string): Uint8Array | null {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let v4: Uint8Array | null = null;
  if (s.includes('.')) {
    const i = s.lastIndexOf(':');
    v4 = i < 0 ? null : parseV4(s.slice(i + 1));
    if (!v4) return null;
    s = s.endsWith('::', i + 1) ? s.slice(0, i + 1) : s.slice(0, i);
  }
  const want = v4 ? 6 : 8;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words = (part: string) => (part === '' ? [] : part.split(':').map((h) => (/^[0-9a-fA-F]{1,4}$/.test(h) ? parseInt(h, 16) : NaN)));
  const head = words(halves[0] as string);
  const tail = halves.length === 2 ? words(halves[1] as string) : [];
  if ([...head, ...tail].some(Number.isNaN)) return null;
  const fill = want - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  if (v4) bytes.set(v4, 12);
  return bytes;
}

/** An IPv4 or IPv6 literal (brackets and zone allowed), or null for anything else. */
export function parseIp(text: string): Ip | null {
  const v4 = parseV4(text);
  if (v4) return { v: 4, bytes: v4 };
  const v6 = text.includes(':') ? parseV6(text) : null;
  return v6 ? { v: 6, bytes: v6 } : null;
}

const isZero = (b: Uint8Array, from: number, to: number) => b.subarray(from, to).every((x) => x === 0);

/** The IPv4 address an IPv6 one carries (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96), else the address itself. */
export function unwrapIp(ip: Ip): Ip {
  if (ip.v === 4) return ip;
  const b = ip.bytes;
  const mapped = isZero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff;
  const nat64 = b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && isZero(b, 4, 12);
  return mapped || nat64 ? { v: 4, bytes: b.slice(12) } : ip;
}

function parseCidr(text: string): Cidr | null {
  const [addr, bitsText, extra] = text.split('/');
  const ip = addr === undefined ? null : parseIp(addr);
  if (!ip || extra !== undefined) return null;
  const max = ip.v === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  return Number.isInteger(bits) && bits >= 0 && bits <= max ? { ip, bits } : null;
}

function contains(c: Cidr, ip: Ip): boolean {
  if (c.ip.v !== ip.v) return false;
  for (let bit = 0; bit < c.bits; bit += 8) {
    const take = Math.min(8, c.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((c.ip.bytes[bit / 8] as number) & mask) !== ((ip.bytes[bit / 8] as number) & mask)) return false;
  }
  return true;
}

const cidrs = (list: string[]) => list.map((c) => parseCidr(c) as Cidr);

/** Never called, whatever `gossip.allow` says: nothing a fleet node listens on, and the metadata services. */
const FORBIDDEN = cidrs([
  '0.0.0.0/8', '169.254.0.0/16', '100.100.100.200/32', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', 'fe80::/10', 'ff00::/8', 'fd00:ec2::254/128',
]);
const FORBIDDEN_NAMES = new Set([
  'metadata', 'metadata.google.internal', 'metadata.goog', 'metadata.azure.internal', 'instance-data', 'instance-data.ec2.internal',
]);

/** Why an address must never be called, or null. */
export function forbiddenAddress(address: string | Ip): string | null {
  const parsed = typeof address === 'string' ? parseIp(address) : address;
  if (!parsed) return null;
  const ip = unwrapIp(parsed);
  return FORBIDDEN.some((c) => contains(c, ip)) ? 'a link-local, unspecified, multicast or metadata address' : null;
}

const NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

function parseAllowEntry(text: string): AllowEntry | null {
  const cidr = parseCidr(text);
  if (cidr) return { kind: 'cidr', cidr };
  const name = text.toLowerCase();
  if (!NAME.test(name)) return null;
  return name.startsWith('*.') ? { kind: 'name', name: name.slice(1), wildcard: true } : { kind: 'name', name, wildcard: false };
}

/** For config validation: why an allow entry is not usable, or null. */
export function allowEntryProblem(text: string): string | null {
  return parseAllowEntry(text) ? null : `expected a host name, *.domain, an IP address or a CIDR range like 10.0.0.0/8, got "${text}"`;
}

/** A rate-limit key for a remote address: IPv4 (mapped ones too) as is, IPv6 by its /64, since one host holds a whole /64. */
export function addressKey(address: string): string {
  const parsed = parseIp(address);
  if (!parsed) return address;
  const ip = unwrapIp(parsed);
  if (ip.v === 4) return ip.bytes.join('.');
  return `${Array.from(ip.bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('')}/64`;
}

function refuse(url: string, why: string): UpshiftError {
  const shown = url.slice(0, MAX_PEER_URL_LENGTH);
  return new UpshiftError('E_PEER_URL', `peer address ${JSON.stringify(shown)} refused: ${why}`, { details: { url: shown } });
}

export class PeerUrlPolicy {
  private readonly allow: AllowEntry[];

  /** `allow` as in gossip.allow; empty allows any host that is not forbidden. Throws E_CONFIG for a bad entry. */
  constructor(allow: readonly string[] = []) {
    this.allow = allow.map((text) => {
      const entry = parseAllowEntry(text);
      if (!entry) throw new UpshiftError('E_CONFIG', `gossip.allow: ${allowEntryProblem(text)}`);
      return entry;
    });
  }

  /** The parsed URL, or E_PEER_URL naming what is wrong with it. */
  check(url: string): URL {
    if (url.length > MAX_PEER_URL_LENGTH) throw refuse(url, `longer than ${MAX_PEER_URL_LENGTH} characters`);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw refuse(url, 'not a URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw refuse(url, `scheme ${u.protocol} (only http and https)`);
    if (u.username !== '' || u.password !== '') throw refuse(url, 'it carries a user name or password');
    if (url.includes('?') || url.includes('#')) throw refuse(url, 'it carries a query or fragment');
    const host = u.hostname.replace(/\.+$/, '');
    const ip = parseIp(host);
    if (ip) {
      const bad = forbiddenAddress(ip);
      if (bad) throw refuse(url, bad);
    } else if (FORBIDDEN_NAMES.has(host)) {
      throw refuse(url, 'a cloud metadata host');
    }
    if (this.allow.length > 0 && !this.allowed(host, ip)) throw refuse(url, 'its host is not in gossip.allow');
    return u;
  }

  private allowed(host: string, ip: Ip | null): boolean {
    const addr = ip ? unwrapIp(ip) : null;
    return this.allow.some((e) => {
      if (e.kind === 'cidr') return ip !== null && (contains(e.cidr, ip) || (addr !== null && contains(e.cidr, addr)));
      return ip === null && (e.wildcard ? host.endsWith(e.name) : host === e.name);
    });
  }
}
