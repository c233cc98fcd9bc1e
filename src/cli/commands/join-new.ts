// `upshift join --trust sha256:... ` on a fresh node: the command `fleet token` prints. It
// learns the fleet and the trust section from the authority (checked against the printed
// fingerprint before the token is spent), gets its certificate, and writes upshift.yaml, the
// node key and the certificate, so `upshift daemon` is the only step left. Nothing touches
// the disk until the certificate verified; then every file is staged as a temp file and
// renamed into place, the config last, so a failed join leaves nothing behind.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, lstat, mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { validateConfig } from '../../core/config.js';
import { UpshiftError, toUpshiftError } from '../../core/errors.js';
import { isLoopbackHost } from '../../core/hosts.js';
import { authorityPinText, authorityTarget } from '../../node/authority-pin.js';
import { checkTrust, fetchJoinInfo, type JoinInfo } from '../../node/join-info.js';
import { SEED_LENGTH } from '../../trust/ed25519.js';
import { serializeEnvelope } from '../../trust/envelope.js';
import { generateKeyFile, loadKeyFile, signerFromSeed, type Signer } from '../../trust/keyfile.js';
import { keysetOf } from '../../trust/keyset.js';
import { TRUST_FINGERPRINT, trustFingerprint } from '../../trust/keyset-fingerprint.js';
import type { NodeCert } from '../../trust/node-cert.js';
import { DEFAULT_LISTEN, renderJoinedConfig, type JoinedConfig } from './config-text.js';
import { defaultNodeId } from './init.js';
import { JOIN_TIMEOUT_MS, requestCert } from '../../node/join-request.js';

export interface JoinNewOptions {
  authority: string;
  token: string;
  trust: string;
  authorityFingerprint?: string | undefined;
  insecure?: boolean | undefined;
  nodeId?: string | undefined;
  listen?: string | undefined;
  advertise?: string | undefined;
  tracks?: string | undefined;
  /** Where upshift.yaml goes: --dir/upshift.yaml, else the global --config path. */
  configPath: string;
  force?: boolean | undefined;
}

export interface JoinedNode {
  config: string;
  node_id: string;
  fleet: string;
  labels: Record<string, string>;
  serial: number;
  expires_at: string;
  trust: string;
  written: string[];
  key_created: boolean;
}

/** Run one step; any failure comes out with its code and the step's name in front. */
async function step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = toUpshiftError(err);
    const details = { ...(e.details ?? {}), step: name };
    throw new UpshiftError(e.code, `join failed at "${name}": ${e.message}; nothing was written`, { cause: err, details });
  }
}

const exists = async (path: string) => (await lstat(path).catch(() => null)) !== null;

export async function joinNew(opts: JoinNewOptions): Promise<JoinedNode> {
  const path = resolve(opts.configPath);
  const dir = dirname(path);
  const keys = join(dir, 'keys');
  const paths = {
    key: join(keys, 'node.key'), cert: join(keys, 'node.cert'), pin: join(keys, 'authority-tls.json'), read: join(keys, 'read.token'),
  };
  const args = await step('check the arguments', async () => {
    if (!TRUST_FINGERPRINT.test(opts.trust)) {
      const expected = 'sha256:HEX (64 hex digits) as printed by `upshift fleet token`';
      throw new UpshiftError('E_USAGE', `--trust expects ${expected}, got "${opts.trust}"`);
    }
    const target = authorityTarget(opts.authority, { fingerprint: opts.authorityFingerprint, insecure: opts.insecure });
    const listen = opts.listen ?? DEFAULT_LISTEN;
    const host = listen.slice(0, listen.lastIndexOf(':'));
    if (!/^[^\s:]+:\d{1,5}$/.test(listen)) {
      throw new UpshiftError('E_USAGE', `--listen expects host:port like 127.0.0.1:7400, got "${listen}"`);
    }
    if (['0.0.0.0', '::', '[::]'].includes(host) && !opts.advertise) {
      const fix = "add --advertise http://<this node's address>:<port>";
      throw new UpshiftError('E_USAGE', `--listen ${listen} is every interface, which no peer can call: ${fix}`);
    }
    if (await exists(path) && !opts.force) {
      throw new UpshiftError('E_EXISTS', `${path} exists: this node has a config already (to get a new certificate for it, run join without --trust; `
        + 'to replace the config, add --force)', { details: { path } });
    }
    // found now, not after the token is spent: where the files go must be a directory we can write
    for (const d of [dir, keys]) {
      const st = await lstat(d).catch(() => null);
      if (st && !st.isDirectory()) {
        throw new UpshiftError('E_EXISTS', `${d} is not a directory; join writes its files there`, { details: { path: d } });
      }
      if (st) await access(d, constants.W_OK).catch((err: unknown) => {
        throw new UpshiftError('E_CONFIG', `cannot write in ${d}: ${(err as Error).message}`, { cause: err, details: { path: d } });
      });
    }
    return { target, listen, beyondLoopback: !isLoopbackHost(host), nodeId: opts.nodeId ?? defaultNodeId() };
  });

  const info = await step('reach the authority', () => fetchJoinInfo(args.target, JOIN_TIMEOUT_MS));
  await step('check the trust fingerprint', () => checkTrust(info, opts.trust, args.target.url.origin));
  const input = await step('check the arguments', () => configInput(opts, args, info));
  const key = await step('load or create the node key', () => nodeKey(paths.key));
  const got = await step('redeem the token', () => requestCert(configOf(render(input, {})), key.signer, {
    target: args.target, token: opts.token, now: () => Date.now(),
  }));
  const text = render(input, got.cert.labels);
  await step('check the config', () => {
    const config = configOf(text);
    if (trustFingerprint(keysetOf(config)) !== opts.trust) {
      throw new UpshiftError('E_INTERNAL', 'the written trust section does not hash to --trust');
    }
  });

  const files: FileToWrite[] = [];
  if (key.seed) files.push({ path: paths.key, write: (tmp) => generateKeyFile(tmp, key.seed as Uint8Array<ArrayBuffer>) });
  const publicFile = { mode: 0o644, flag: 'wx' } as const;
  files.push({ path: paths.cert, write: (tmp) => writeFile(tmp, `${serializeEnvelope(got.envelope)}\n`, publicFile) });
  const pin = authorityPinText(args.target);
  if (pin) files.push({ path: paths.pin, write: (tmp) => writeFile(tmp, pin, publicFile) });
  const readToken = `${randomBytes(32).toString('hex')}\n`;
  if (input.readTokenFile) files.push({ path: paths.read, write: (tmp) => writeFile(tmp, readToken, { mode: 0o600, flag: 'wx' }) });
  files.push({ path, write: (tmp) => writeFile(tmp, text, publicFile) });
  await step('write the files', () => commit(dir, keys, files));
  return {
    config: path, node_id: got.cert.node_id, fleet: got.cert.fleet, labels: got.cert.labels, serial: got.cert.serial,
    expires_at: got.cert.expires_at, trust: opts.trust, written: files.map((f) => f.path), key_created: key.seed !== null,
  };
}

type Args = { listen: string; beyondLoopback: boolean; nodeId: string };

function configInput(opts: JoinNewOptions, args: Args, info: JoinInfo): Omit<JoinedConfig, 'labels'> {
  const tracks = opts.tracks ? opts.tracks.split(',').map((s) => s.trim()).filter(Boolean) : info.default_tracks;
  const unknown = tracks.filter((t) => !info.tracks.includes(t));
  if (tracks.length === 0 || unknown.length) {
    const got = unknown.join(', ') || '(none)';
    throw new UpshiftError('E_USAGE', `--tracks: the authority releases ${info.tracks.join(', ')}; got ${got}`);
  }
  return {
    authority: opts.authority.replace(/\/+$/, ''), trustFingerprint: opts.trust, fleet: info.fleet, nodeId: args.nodeId, tracks,
    trust: info.trust, listen: args.listen, advertise: opts.advertise, readTokenFile: args.beyondLoopback ? 'keys/read.token' : undefined,
  };
}

const render = (input: Omit<JoinedConfig, 'labels'>, labels: NodeCert['labels']) => renderJoinedConfig({ ...input, labels });

/** Validate the text as the daemon will (paths are not needed by the join itself). */
function configOf(text: string) {
  return validateConfig(parseDocument(text, { uniqueKeys: true }).toJS(), 'the config join writes');
}

/** The node key: the one on disk, or a new seed written only at the end. */
async function nodeKey(path: string): Promise<{ signer: Signer; seed: Uint8Array<ArrayBuffer> | null }> {
  if (await exists(path)) return { signer: await loadKeyFile(path), seed: null };
  const seed = new Uint8Array(randomBytes(SEED_LENGTH));
  return { signer: signerFromSeed(seed), seed };
}

/** Stage every file as a temp file, then rename them in order (the config last); undo on any failure. */
type FileToWrite = { path: string; write: (tmp: string) => Promise<unknown> };

async function commit(dir: string, keys: string, files: FileToWrite[]): Promise<void> {
  const madeDir = await mkdir(dir, { recursive: true });
  const madeKeys = await exists(keys) ? null : await mkdir(keys, { mode: 0o700 }).then(() => keys);
  const staged: Array<{ tmp: string; path: string; existed: boolean }> = [];
  const renamed: string[] = [];
  try {
    for (const f of files) {
      const tmp = join(dirname(f.path), `.${basename(f.path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
      staged.push({ tmp, path: f.path, existed: await exists(f.path) });
      await f.write(tmp);
    }
    for (const s of staged) {
      await rename(s.tmp, s.path);
      if (!s.existed) renamed.push(s.path);
    }
  } catch (err) {
    for (const s of staged) await rm(s.tmp, { force: true });
    for (const p of renamed) await rm(p, { force: true });
    if (madeKeys) await rmdir(madeKeys).catch(() => undefined);
    if (madeDir) await rm(madeDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
