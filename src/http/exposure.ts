// How far the daemon's HTTP front door reaches and what it shows there (config `http`):
// HTTPS with the configured certificate, and a bearer token on /v1/status and /metrics,
// which tell anyone the node id, fleet, labels, state dir, floors and held manifest.
// Beyond loopback the daemon will not start with those reads open unless told so.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { openSync, closeSync, fstatSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import { normalizeFingerprint } from '../adapters/http-client.js';

export interface HttpExposure {
  /** PEM certificate and key to serve HTTPS with, or null for plain HTTP. */
  tls: { cert: Buffer; key: Buffer } | null;
  /** The token /v1/status and /metrics require, or null when they are open. */
  readToken: string | null;
  /** The token POST /v1/tools/* requires (http.tools_token_file); null: the daemon serves no tools. */
  toolsToken?: string | null;
}

export { isLoopbackHost } from '../core/hosts.js';
import { isLoopbackHost } from '../core/hosts.js';

/** The SHA-256 fingerprint of a PEM certificate's DER bytes (the first certificate of a chain), as `sha256:HEX`. */
export function certFingerprint(pem: string | Buffer): string {
  return normalizeFingerprint(new X509Certificate(pem).fingerprint256) as string;
}

/** How peers and joining nodes reach this daemon: gossip.advertise, else its listen address. */
export function selfUrl(config: Config): string {
  return config.gossip.advertise ?? `${config.http.tls ? 'https' : 'http'}://${config.gossip.listen}`;
}

const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** A private file: regular, not readable by group or others (like key files), not huge. */
function readPrivateFile(path: string, setting: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const message = `${setting}: cannot open ${path}: ${(err as Error).message}`;
    throw new UpshiftError('E_CONFIG', message, { cause: err, details: { setting, path } });
  }
  try {
    const st = fstatSync(fd);
    const mode = st.mode & 0o777;
    if (!st.isFile() || st.size > MAX_SECRET_FILE_BYTES) {
      throw new UpshiftError('E_CONFIG', `${setting}: ${path} is not a regular file of at most 64 KiB`, { details: { setting, path } });
    }
    if (mode & 0o077) {
      const octal = `0${mode.toString(8)}`;
      const message = `${setting}: ${path} has mode ${octal}, readable by group or others; run \`chmod 600 ${path}\``;
      throw new UpshiftError('E_KEY_PERMS', message, { details: { setting, path, mode: octal } });
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read what `http` asks for and refuse (E_CONFIG, naming the setting) what would expose
 * more than the operator said: reads open beyond loopback, plain http advertised by an
 * HTTPS daemon, a certificate and key that do not load.
 */
export function loadHttpExposure(config: Config): HttpExposure {
  const { tls, read_token_file: tokenFile, public_reads: publicReads } = config.http;
  const host = config.gossip.listen.slice(0, config.gossip.listen.lastIndexOf(':'));
  if (tokenFile && publicReads) {
    const message = 'http.public_reads: true and http.read_token_file contradict each other; keep one';
    throw new UpshiftError('E_CONFIG', message, { details: { setting: 'http.public_reads' } });
  }
  if (!tokenFile && !publicReads && !isLoopbackHost(host)) {
    throw new UpshiftError('E_CONFIG', `gossip.listen ${config.gossip.listen} is beyond loopback, and /v1/status and /metrics would tell anyone `
      + 'the node id, fleet, labels and state: set http.read_token_file (a 0600 file holding a token) or, to keep them public, '
      + 'http.public_reads: true', { details: { setting: 'http.read_token_file' } });
  }
  let readToken: string | null = null;
  if (tokenFile) {
    readToken = readPrivateFile(tokenFile, 'http.read_token_file').toString('utf8').trim();
    if (readToken.length < 16 || /\s/.test(readToken)) {
      throw new UpshiftError('E_CONFIG', `http.read_token_file: ${tokenFile} must hold one token of at least 16 characters, no spaces`
        + ' (e.g. `openssl rand -hex 32`)', { details: { setting: 'http.read_token_file' } });
    }
  }
  const toolsToken = config.http.tools_token_file ? loadToken(config.http.tools_token_file, 'http.tools_token_file') : null;
  if (toolsToken !== null && toolsToken === readToken) {
    throw new UpshiftError('E_CONFIG', 'http.tools_token_file holds the read token: a token that may read must not also act; use another',
      { details: { setting: 'http.tools_token_file' } });
  }
  // present only when configured, so the exposure of a daemon without tools stays as it was
  const tools = toolsToken === null ? {} : { toolsToken };
  if (!tls) return { tls: null, readToken, ...tools };
  if (config.gossip.advertise?.startsWith('http:')) {
    const message = `gossip.advertise ${config.gossip.advertise} is plain http, but http.tls serves HTTPS only`;
    throw new UpshiftError('E_CONFIG', message, { details: { setting: 'gossip.advertise' } });
  }
  let cert: Buffer;
  try {
    cert = readFileSync(tls.cert);
  } catch (err) {
    const message = `http.tls.cert: cannot read ${tls.cert}: ${(err as Error).message}`;
    throw new UpshiftError('E_CONFIG', message, { cause: err, details: { setting: 'http.tls.cert' } });
  }
  const key = readPrivateFile(tls.key, 'http.tls.key');
  try {
    certFingerprint(cert);
    createSecureContext({ cert, key });
  } catch (err) {
    const message = `http.tls: ${tls.cert} and ${tls.key} are not a PEM certificate and its key: ${(err as Error).message}`;
    throw new UpshiftError('E_CONFIG', message, { cause: err, details: { setting: 'http.tls' } });
  }
  return { tls: { cert, key }, readToken, ...tools };
}

/** A bearer token from a private file: one word of at least 16 characters. */
function loadToken(file: string, setting: string): string {
  const token = readPrivateFile(file, setting).toString('utf8').trim();
  if (token.length < 16 || /\s/.test(token)) {
    throw new UpshiftError('E_CONFIG', `${setting}: ${file} must hold one token of at least 16 characters, no spaces`
      + ' (e.g. `openssl rand -hex 32`)', { details: { setting } });
  }
  return token;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** An onRequest hook: 401 E_UNAUTHORIZED unless `Authorization: Bearer <token>` (constant time, on digests). */
export function requireReadToken(token: string): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const expected = digest(token);
  return async (req, reply) => {
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    if (given && timingSafeEqual(digest(given), expected)) return;
    const message = given ? 'the bearer token is not the read token'
      : 'this endpoint needs Authorization: Bearer <the token in http.read_token_file>';
    const error = new UpshiftError('E_UNAUTHORIZED', message).toJSON();
    await reply.status(401).header('www-authenticate', 'Bearer realm="upshift"').send({ ok: false, error });
  };
}
