// One catalog of stable error codes. Front doors map `exit` to process exit codes,
// `status` to HTTP statuses and any UpshiftError to MCP `isError`.

export type ExitCode = 0 | 1 | 2 | 3;

interface CodeInfo {
  exit: ExitCode;
  status: number;
  retryable: boolean;
}

const failed = (status = 422, retryable = false): CodeInfo => ({ exit: 1, status, retryable });
const usage = (status = 400): CodeInfo => ({ exit: 2, status, retryable: false });

export const CODES = {
  // usage and configuration: exit 2
  E_USAGE: usage(),
  E_CONFIG: usage(),
  /** gossip.listen cannot be bound: the address is in use (another daemon?) or not ours to take. */
  E_LISTEN: usage(500),
  E_EXISTS: usage(409),
  E_KEY_MISSING: usage(),
  E_KEY_PERMS: usage(),
  // app.dir, releases/, shared/ or floors/ is a symlink, someone else's, or group/other-writable
  E_UNSAFE_PATH: usage(),
  E_KEY_INVALID: usage(),
  // stage commands could reach a key or the state, or the build user cannot be used
  E_SANDBOX: usage(500),
  E_UNKNOWN_REF: usage(404),
  E_UNKNOWN_TRACK: usage(404),
  E_RUN_NOT_FOUND: usage(404),
  /** An agent tool name that is not one of the ten (MCP, POST /v1/tools/<name>, `upshift tool`). */
  E_UNKNOWN_TOOL: usage(404),
  // trust: exit 1, never retryable
  E_SIG_INVALID: failed(),
  E_UNKNOWN_KEY: failed(),
  E_THRESHOLD: failed(),
  E_SMALL_ORDER_KEY: failed(),
  E_MANIFEST_PARSE: failed(),
  E_MANIFEST_SCHEMA: failed(),
  E_PAYLOAD_TYPE: failed(),
  E_ROLLBACK: failed(409),
  E_KEYSET_GAP: failed(409),
  E_EXPIRED: failed(),
  E_NOT_YET_VALID: failed(),
  E_MANIFEST_TTL: failed(),
  E_WRONG_FLEET: failed(),
  E_WRONG_TRACK: failed(),
  E_NOT_TARGETED: failed(),
  E_SEQ_CONFLICT: failed(409),
  /** A new leader's store is behind a seq already published (lost writes without synchronous replication). */
  E_SEQ_REGRESSION: failed(409),
  /** A record the store keeps once (a run's version, retry or stage result) was written again: the first stands. */
  E_DUPLICATE: failed(409),
  // fleet: gossip, identity, apply
  E_REPLAY: failed(409),
  E_BODY_TOO_LARGE: failed(413),
  E_HEARTBEAT_TOO_LARGE: failed(413),
  E_MALFORMED: failed(400),
  // the NATS fleet channel: a frame on the wrong subject, too large, not canonical; the channel closed
  E_CHANNEL_SUBJECT: failed(400),
  E_FRAME_TOO_LARGE: failed(413),
  E_NOT_CANONICAL: failed(400),
  E_CHANNEL_CLOSED: failed(503),
  E_CHANNEL_DOWN: failed(503, true),
  E_RATE_LIMITED: failed(429, true),
  E_NOT_CERTIFIED: failed(403),
  E_REVOKED: failed(403),
  /** A peer address that gossip must not call (scheme, userinfo, link-local or metadata host, gossip.allow). */
  E_PEER_URL: failed(400),
  E_TOKEN: failed(403),
  // transport: a read endpoint without its bearer token, a TLS peer that is not the one pinned
  E_UNAUTHORIZED: failed(401),
  E_TLS_PIN: failed(502),
  E_TLS_UNTRUSTED: failed(502),
  /** `join --trust`: the authority's trust section is not the one whose fingerprint was printed. */
  E_TRUST_MISMATCH: failed(409),
  E_INSECURE: usage(),
  E_APPLY_LOCKED: failed(423, true),
  E_BAD_VERSION: failed(409),
  E_HEALTH: failed(503),
  /** A blue-green release reached a node without `app.blue_green` (no second slot to start it in). */
  E_NO_BLUE_GREEN: failed(409),
  E_FETCH: failed(502, true),
  E_BUNDLE_PATH: failed(),
  E_BUNDLE_INTEGRITY: failed(),
  E_BUNDLE_LIMIT: failed(413),
  E_UNREACHABLE: failed(503, true),
  // OTA (src/ota): the feed, its assets and the approval gate. A refusal of what was
  // downloaded or of the approval is a gate (exit 3); the CLI maps trust codes there too.
  /** The release feed is not JSON, or not the GitHub Releases shape. */
  E_FEED_PARSE: failed(502),
  /** The feed is over ota.max_feed_bytes or lists more than ota.max_releases releases. */
  E_FEED_TOO_LARGE: failed(413),
  /** An asset URL (or the feed's) is not under ota.allow. */
  E_OTA_ORIGIN: failed(),
  /** A download redirected to a URL not under ota.allow. */
  E_OTA_REDIRECT: failed(),
  /** A release in the feed lacks its manifest or bundle asset, or names them twice. */
  E_OTA_ASSET: failed(502),
  /** The downloaded bytes' sha256 is not the one the manifest (or the feed) gives. */
  E_CHECKSUM: failed(),
  /** The server sent more bytes than announced (Content-Length, Content-Range or the asset size). */
  E_DOWNLOAD_TOO_LARGE: failed(413),
  /** The transfer fell below ota.min_rate over ota.rate_window. */
  E_DOWNLOAD_SLOW: failed(504, true),
  /** The staging dir's filesystem has no room for the download. */
  E_DISK_FULL: failed(507, true),
  /** The approval endpoint answered no (`approved` not true, or a non-200). */
  E_APPROVAL_DENIED: { exit: 3, status: 403, retryable: false },
  /** The approval endpoint could not be asked (down, timeout, malformed answer): fail closed. */
  E_APPROVAL_UNAVAILABLE: { exit: 3, status: 503, retryable: true },
  // execution
  E_TIMEOUT: failed(504, true),
  E_CANCELLED: failed(499, true),
  E_COMMAND_FAILED: failed(),
  E_GIT: failed(502, true),
  E_BAD_COMMIT: failed(400),
  E_WORKTREE: failed(500, true),
  // pipeline and state
  E_GATE: { exit: 3, status: 409, retryable: false },
  E_RUN_ACTIVE: failed(409, true),
  E_RUN_LOCKED: failed(423, true),
  E_RUN_TERMINAL: failed(409),
  /** A version older than the newest released on its track: that is a rollback, not a release. */
  E_DOWNGRADE: usage(409),
  /** A deployment policy or flag that cannot be used: unknown strategy, max_parallel 0 or above the fleet, flags that conflict. */
  E_DEPLOY_POLICY: usage(),
  /** No deployment key (or deployment id, or version number) by that name. */
  E_DEPLOY_NOT_FOUND: usage(404),
  /** A control action the deployment's state does not allow: promote with nothing waiting, resume of one not paused. */
  E_DEPLOY_STATE: failed(409),
  /** A rollback to a deployment version that never became healthy. */
  E_DEPLOY_UNHEALTHY: failed(409),
  /** A maintenance window that does not parse (expected like `Sat 02:00-04:00 UTC`). */
  E_WINDOW: usage(),
  E_STATE_CORRUPT: failed(500),
  /** This replica lost leadership (its epoch was superseded or its session ended): it stops, failing closed. */
  E_FENCED: failed(409),
  /** A follower replica was asked for what only the leader does (and that cannot be queued for it). */
  E_NOT_LEADER: failed(409, true),
  /** No leader took a queued command in time: the caller withdrew it, so nothing changed. */
  E_LEADER_TIMEOUT: failed(504, true),
  /** No configured PostgreSQL host accepts writes. */
  E_STORE_UNAVAILABLE: failed(503, true),
  /** The database schema is newer than this binary knows. */
  E_SCHEMA_NEWER: failed(500),
  /** The leader's lock session goes through a transaction-pooling proxy, which cannot hold a session lock. */
  E_POOLED_SESSION: usage(500),
  E_STATE_BUSY: failed(503, true),
  E_MACHINE_VERSION: failed(500),
  E_NOT_IMPLEMENTED: failed(501),
  E_INTERNAL: failed(500),
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CODES;

export class UpshiftError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UpshiftError';
    this.code = code;
    this.details = opts.details;
  }

  get retryable(): boolean {
    return CODES[this.code].retryable;
  }

  get exitCode(): ExitCode {
    return CODES[this.code].exit;
  }

  get status(): number {
    return CODES[this.code].status;
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isUpshiftError(err: unknown, code?: ErrorCode): err is UpshiftError {
  return err instanceof UpshiftError && (code === undefined || err.code === code);
}

/** Wrap anything thrown into an UpshiftError, keeping typed ones as they are. */
export function toUpshiftError(err: unknown, fallback: ErrorCode = 'E_INTERNAL'): UpshiftError {
  if (err instanceof UpshiftError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new UpshiftError(fallback, message, { cause: err });
}
