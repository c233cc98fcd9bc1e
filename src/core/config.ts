// upshift.yaml: zod schema → normalized config → cross-field rules. Every problem is
// reported at once with its dot-path and what was expected.
import { z } from 'zod';
import { formatSpan, parseDuration } from './duration.js';
import { UpshiftError } from './errors.js';
import { deploymentEntrySchema, resolvePolicy } from './deploy-policy.js';
import { labelsSchema } from './labels.js';
import { allowEntryProblem } from './peer-url.js';
import { parseWindow } from './windows.js';

const duration = (fallback: string) =>
  z
    .string({ error: 'expected a duration like 30s, 5m or 1h' })
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return parseDuration(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 5m or 1h, got "${text}"` });
        return z.NEVER;
      }
    });

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected lowercase letters, digits, "-" or "_" (max 63)');
const command = z.string().trim().min(1, 'expected a shell command');
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters (an Ed25519 public key)');

const trackSchema = z.union([
  z.strictObject({ branch: z.string().min(1) }),
  z.strictObject({ tags: z.string().min(1), include_prerelease: z.boolean().default(false) }),
], { error: 'expected { branch: NAME } or { tags: GLOB }' });

/**
 * Where the authority keeps its state. `sqlite` (the default): one file in state_dir, one
 * authority. `postgres`: every replica with this config shares the database; one leads (a
 * fenced advisory lock), the others serve reads and queue mutating commands for it.
 */
const storeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sqlite') }),
  z.strictObject({
    kind: z.literal('postgres'),
    /** `host`, `host:port` or a unix socket directory; walked in order to the writable primary. */
    hosts: z.array(z.string().trim().min(1, 'expected a host, host:port or socket directory')).min(1, 'expected at least one host'),
    database: z.string().min(1),
    user: z.string().min(1),
    /** A file holding the password (first line); unset: none (trust, peer or .pgpass). */
    password_file: z.string().min(1).optional(),
    /** `false`: no TLS (a unix socket or a private link); else verify the server with `ca_file` or the system CAs. */
    tls: z.union([z.literal(false), z.strictObject({
      ca_file: z.string().min(1).optional(),
      cert_file: z.string().min(1).optional(),
      key_file: z.string().min(1).optional(),
      servername: z.string().min(1).optional(),
    })]).default(false),
    /** A leader whose renewals are older than this is deposed by a follower. */
    stall_timeout: duration('10s'),
    /** This replica's name in `authority status`; default: node id, host name and pid. */
    replica: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/, 'expected letters, digits, ".", ":", "-" or "_" (max 63)').optional(),
  }),
], { error: 'expected { kind: sqlite } or { kind: postgres, hosts, database, user }' });

export type StoreConfig = z.output<typeof storeSchema>;
export type PostgresStoreConfig = Extract<StoreConfig, { kind: 'postgres' }>;

const authoritySchema = z.strictObject({
  source: z.string().min(1, 'expected the source repository (a path or git URL)'),
  signing_keys: z.array(z.string().min(1)).min(1, 'expected at least one signing key file'),
  // a function, so no two configs share (and can mutate) the same default objects
  tracks: z.record(name, trackSchema).default(() => ({ testnet: { branch: 'main' }, production: { tags: 'v*.*.*', include_prerelease: false } })),
  poll: z.string().default('*/5 * * * *'),
  store: storeSchema.default(() => ({ kind: 'sqlite' as const })),
  manifest_ttl: duration('30d'),
  build: z.strictObject({ command, timeout: duration('10m') }),
  test: z.strictObject({
    command,
    format: z.enum(['auto', 'tap', 'junit', 'summary']).default('auto'),
    report: z.string().min(1).nullable().default(null),
    timeout: duration('10m'),
    min_pass_rate: z.number().min(0).max(1).default(0.95),
  }),
  audit: z.strictObject({
    commands: z.array(command).default([]),
    protected_paths: z.array(z.string().min(1)).default([]),
    timeout: duration('5m'),
  }).prefault({}),
  benchmark: z.strictObject({
    suites: z.array(z.strictObject({
      name, command, repeat: z.int().min(1).max(100).default(3),
      /** `capture_benchmark` and `upshift bench capture --tier` pick suites by tier; BENCHMARK runs every tier. */
      tier: z.enum(['fast', 'heavy']).default('fast'),
    })).default([]),
    tolerance: z.number().min(0).max(10).default(0.05),
    timeout: duration('10m'),
  }).prefault({}),
  canary: z.strictObject({
    fraction: z.number().gt(0).max(1).default(0.1),
    soak: duration('30m'),
    max_error_increase: z.number().min(0).default(0.5),
    labels: z.array(z.string().min(1)).default(['region']),
    /** How often canaries are looked at during the soak; a canary silent for heartbeat_timeout fails. */
    check_every: duration('5s'),
    heartbeat_timeout: duration('30s'),
    /** `manual`: after a passing soak the run waits until someone promotes it (advance_upgrade_pipeline). */
    promotion: z.enum(['auto', 'manual']).default('auto'),
  }).prefault({}),
  /**
   * The fleet's heartbeat interval, signed as a fleet setting that every node applies: `base`
   * while the fleet is small, growing as max(base, nodes / max_per_second) so this authority
   * takes at most `max_per_second` heartbeats a second; canaries, their control sample and
   * applying nodes stay at `base`, and every node sends at once when its state changes.
   */
  heartbeat: z.strictObject({
    base: duration('5s'),
    max_per_second: z.int().min(1).default(2000),
  }).prefault({}),
  deploy: z.strictObject({
    progress_deadline: duration('10m'),
    /** On a missed progress deadline: publish a signed rollback (true) or stop and report (false). */
    auto_revert: z.boolean().default(false),
  }).prefault({}),
  /**
   * Deployment policies by key (deploy-policy.ts); a key deploys the track of its name unless
   * it says `track:`. A track without one deploys with SPEC's defaults (and deploy.* above).
   */
  deployments: z.record(name, deploymentEntrySchema).default(() => ({})),
  /**
   * Trust boundary (SPEC): the application's build, test, audit and benchmark commands are
   * untrusted. They run as `user` (the daemon, as root, switches to it) in work trees under
   * `work_dir` (outside state_dir), with PATH, HOME, LANG, LC_ALL, TZ, the UPSHIFT_* run
   * variables and the names in `env`, nothing else. Unset, no command runs (E_SANDBOX);
   * "none" runs them as the daemon itself, able to read the keys: development only.
   */
  sandbox: z.strictObject({
    user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'expected a user name (or "none")').nullable().default(null),
    work_dir: z.string().min(1).default('work'),
    env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')).default([]),
  }).prefault({}),
});

const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http(s) URL like http://127.0.0.1:8080/healthz');

const port = z.int().min(1).max(65_535);
const blueGreenSchema = z.strictObject({
  listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:8080'),
  ports: z.tuple([port, port], { error: 'expected two ports, e.g. [8081, 8082]' }),
  drain: duration('10s'),
  stop: command,
}).superRefine((bg, ctx) => {
  const listenPort = Number(bg.listen.slice(bg.listen.lastIndexOf(':') + 1));
  if (bg.ports[0] === bg.ports[1]) ctx.addIssue({ code: 'custom', path: ['ports'], message: `expected two different ports, got ${bg.ports[0]} twice` });
  bg.ports.forEach((p, i) => {
    if (p === listenPort) ctx.addIssue({ code: 'custom', path: ['ports', i], message: `expected a port other than listen's (${listenPort})` });
  });
});
export type BlueGreenConfig = z.output<typeof blueGreenSchema>;

/** The application this node runs: where releases live and how to install, restart and probe it. */
const appSchema = z.strictObject({
  dir: z.string().min(1),
  remote: z.string().min(1, 'expected the git remote releases are fetched from'),
  install: command.nullable().default(null),
  migrate: command.nullable().default(null),
  restart: command,
  hook_timeout: duration('10m'),
  health: z.strictObject({ url: httpUrl, timeout: duration('2s'), interval: duration('1s') }),
  /** Counters the node reads for its error rate: errors per request when `requests` is set, else errors per second, over `window`. */
  metrics: z.strictObject({ url: httpUrl, errors: z.string().default('app_errors_total'), requests: z.string().nullable().default(null), window: duration('30s') }).optional(),
  /**
   * The on-node smoke benchmark (canary criterion 5): run in each new release dir once it
   * runs, JSON metrics like a benchmark suite, compared with the last release that passed.
   */
  smoke: z.strictObject({ command, tolerance: z.number().min(0).max(10).default(0.1), timeout: duration('2m') }).optional(),
  /** How often the running release is hashed again, so a heartbeat attests what is on disk now. */
  attest_every: duration('1m'),
  /**
   * Between these, a re-attestation reads only files whose inode, size, mtime or ctime changed
   * (a stat cache, as git's index); every attest_full_every it reads every file again.
   */
  attest_full_every: duration('1h'),
  healthy_deadline: duration('5m'),
  min_healthy: duration('10s'),
  keep_releases: z.int().min(2).default(3),
  /**
   * Bundles: a manifest may name a tarball (url, sha256, length). It is downloaded only from
   * a URL that starts with one of `allow`; otherwise the pinned commit comes from `remote`.
   */
  bundles: z.strictObject({
    allow: z.array(httpUrl).default([]),
    max_bytes: z.int().min(1).default(512 * 1024 * 1024),
    /** What extraction may put on disk (the entries' sizes summed), and how many entries; checked before writing. */
    max_unpacked_bytes: z.int().min(1).default(2 * 1024 * 1024 * 1024),
    max_entries: z.int().min(1).default(100_000),
    timeout: duration('5m'),
  }).prefault({}),
  /**
   * Blue-green on this node (README "Blue-green"): releases run in two slots on `ports`
   * (blue, green); a TCP proxy in the daemon listens on `listen` and sends each new
   * connection to the active slot. The restart command starts a release in a slot
   * (UPSHIFT_PORT, UPSHIFT_SLOT); `stop` stops the old slot once `drain` has passed.
   */
  blue_green: blueGreenSchema.optional(),
});

const gossipSchema = z.strictObject({
  listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port').default('127.0.0.1:7400'),
  /** How peers reach this node; defaults to http://<listen>. */
  advertise: httpUrl.optional(),
  seeds: z.array(httpUrl).default([]),
  /**
   * Besides the random fanout, this node pushes its heartbeat here every report_every, so the
   * authority hears every node however large the fleet (random fanout alone reaches it about
   * every N/fanout rounds). Default: the seeds, which normally include the authority.
   */
  report_to: z.array(httpUrl).optional(),
  report_every: duration('5s'),
  fanout: z.int().min(1).max(16).default(3),
  interval: duration('1s'),
  /**
   * While nothing changes (this node's digest and heartbeat), the gap between pushes doubles
   * from `interval` up to this; anything new pushes at once. Equal to `interval`: no back-off.
   */
  idle_interval: duration('8s'),
  anti_entropy: duration('10s'),
  suspect_after: duration('5s'),
  dead_after: duration('30s'),
  /** A dead peer is removed from membership after this long; it comes back by talking to us. */
  remove_after: duration('10m'),
  replay_window: duration('30s'),
  max_body_bytes: z.int().min(1024).max(16 * 1024 * 1024).default(2 * 1024 * 1024),
  /**
   * Cap on a gossip request's body (push, pull, sync: a few KB); only answers carry manifests,
   * so requests get a far smaller cap than max_body_bytes, refused before they are parsed.
   */
  max_request_bytes: z.int().min(4096).max(16 * 1024 * 1024).default(64 * 1024),
  rate_limit_per_sec: z.int().min(1).default(50),
  /** Requests per second from one remote address (IPv6: one /64), taken before any signature is checked. */
  rate_limit_per_address: z.int().min(1).default(100),
  /**
   * Hosts gossip may call: names, `*.domain`, IP addresses or CIDR ranges. Empty: any host
   * except link-local, unspecified, multicast and metadata addresses, which are never called.
   */
  allow: z.array(z.string().superRefine((text, ctx) => {
    const problem = allowEntryProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })).default([]),
});

/**
 * The fleet channel (README "NATS fleet channel"). `gossip` (default): gossip alone. `nats`:
 * heartbeats, manifests and the revocation list also travel over NATS JetStream; gossip keeps
 * running underneath and carries everything while the server is away. Credentials: a NATS
 * creds file, or a user and a file holding its password (relative paths: this file's dir).
 */
const channelSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('gossip') }),
  z.strictObject({
    kind: z.literal('nats'),
    servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s/]+$/, 'expected nats://host:port or tls://host:port')).min(1),
    creds_file: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password_file: z.string().min(1).optional(),
    tls: z.strictObject({
      ca_file: z.string().min(1).optional(), cert_file: z.string().min(1).optional(), key_file: z.string().min(1).optional(),
    }).optional(),
    /** Frames above this are refused (the streams are created with it as their message cap). */
    max_frame_bytes: z.int().min(4096).max(8 * 1024 * 1024).default(64 * 1024),
  }).refine((c) => !(c.creds_file && c.user), 'set creds_file or user + password_file, not both')
    .refine((c) => (c.user === undefined) === (c.password_file === undefined), 'user and password_file go together'),
]);

/**
 * The OTA pull path (SPEC "OTA"): `upshift ota check` reads a GitHub-Releases-shaped feed,
 * downloads a release's manifest and bundle into `staging_dir`, verifies them and applies
 * through the apply engine. `publish` is the authority's side: where `ota publish` (and the
 * daemon after each pipeline pass) writes the feed, served read-only at /v1/ota/.
 */
const otaSchema = z.strictObject({
  /** URL or file path of the feed; "{track}" is replaced by the track. Unset: `ota check` is a config error. */
  feed: z.string().min(1).nullable().default(null),
  /** Sent as `Authorization: Bearer` to the feed's origin only (the authority's http.read_token_file). */
  token_file: z.string().min(1).nullable().default(null),
  /** URL prefixes assets may be downloaded from (as app.bundles.allow). Empty: the feed's own origin. */
  allow: z.array(httpUrl).default([]),
  approval: z.strictObject({
    /** GET with node, track and version; only 200 `{"approved": true}` within `timeout` is a yes. */
    url: httpUrl.nullable().default(null),
    timeout: duration('10s'),
  }).prefault({}),
  /** The whole check (feed, manifest, bundle), before the apply starts. */
  deadline: duration('30m'),
  /** Bytes per second below which a transfer is given up, measured over `rate_window`. */
  min_rate: z.int().min(0).default(1024),
  rate_window: duration('30s'),
  /** How many times an interrupted transfer is resumed (HTTP Range) within one check. */
  resume_attempts: z.int().min(0).max(100).default(5),
  max_feed_bytes: z.int().min(1024).default(4 * 1024 * 1024),
  max_releases: z.int().min(1).default(1000),
  /** Private dir (0700) for downloads, relative to the config file; default <state_dir>/ota. */
  staging_dir: z.string().min(1).nullable().default(null),
  publish: z.strictObject({
    /** The authority writes the feed here (and serves it at /v1/ota/); unset: nothing is published. */
    dir: z.string().min(1).nullable().default(null),
    /** Absolute asset URLs start with this; unset: relative URLs, resolved against the feed's. */
    base_url: httpUrl.nullable().default(null),
  }).prefault({}),
});

export const configSchema = z.strictObject({
  fleet: name,
  state_dir: z.string().min(1).default('state'),
  node: z.strictObject({
    id: name,
    /** Sent in the join request and in every heartbeat: the bounds of a certificate's labels. */
    labels: labelsSchema.default({}),
    tracks: z.array(name).min(1).default(['testnet']),
    /** Maintenance windows (core/windows.ts), like "Sat 02:00-04:00 UTC": outside them only an urgent release switches. None: any time. */
    windows: z.array(z.string().superRefine((text, ctx) => {
      try {
        parseWindow(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })).default([]),
    /** This node's own Ed25519 identity key and the certificate the authority issued for it. */
    key: z.string().min(1).default('keys/node.key'),
    cert: z.string().min(1).default('keys/node.cert'),
  }),
  app: appSchema.optional(),
  gossip: gossipSchema.prefault({}),
  channel: channelSchema.default({ kind: 'gossip' }),
  /**
   * The daemon's HTTP front door. `tls`: serve HTTPS with this PEM certificate and key.
   * With `read_token_file`, /v1/status and /metrics need `Authorization: Bearer <token>`;
   * bound beyond loopback, the daemon refuses to start without one unless `public_reads: true`.
   */
  http: z.strictObject({
    tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    read_token_file: z.string().min(1).optional(),
    public_reads: z.boolean().default(false),
    /** A 0600 file holding the bearer token of POST /v1/tools/*; without it the daemon serves no tools. */
    tools_token_file: z.string().min(1).optional(),
  }).prefault({}),
  trust: z.strictObject({
    keys: z.array(z.strictObject({ public: hex64, keyid: z.string().optional() })).min(1, 'expected at least one trusted key'),
    threshold: z.int().min(1).default(1),
    /** The longest validity (expires_at - created_at) a manifest may have; authority.manifest_ttl must fit. */
    max_manifest_ttl: duration('90d'),
    /** How far in the future a manifest's created_at may be: clocks on a fleet disagree a little. */
    clock_skew: duration('5m'),
  }),
  authority: authoritySchema.optional(),
  ota: otaSchema.prefault({}),
  log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type AuthorityConfig = NonNullable<Config['authority']>;
export type AppConfig = NonNullable<Config['app']>;
export type GossipConfig = Config['gossip'];
export type ChannelConfig = Config['channel'];
export type NatsChannelConfig = Extract<ChannelConfig, { kind: 'nats' }>;
export type TrackConfig = z.output<typeof trackSchema>;
export type OtaConfig = Config['ota'];

export interface ConfigProblem {
  path: string;
  message: string;
}

function dotPath(path: ReadonlyArray<PropertyKey>): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/**
 * Tracks one node's gossip source may hold: a digest names at most 32 keys (LIMITS.tracks in
 * gossip/types.ts), the revocation list takes one and the fleet settings one. Peers refuse a
 * larger digest whole.
 */
export const MAX_HELD_TRACKS = 30;

/** Cross-field rules zod cannot see field by field. */
function crossFieldProblems(cfg: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const distinct = new Set(cfg.trust.keys.map((k) => k.public)).size;
  if (cfg.trust.threshold > distinct) {
    problems.push({ path: 'trust.threshold', message: `expected at most ${distinct} (the number of distinct trusted keys), got ${cfg.trust.threshold}` });
  }
  if (cfg.authority && cfg.authority.manifest_ttl > cfg.trust.max_manifest_ttl) {
    problems.push({
      path: 'authority.manifest_ttl',
      message: `expected at most trust.max_manifest_ttl (${formatSpan(cfg.trust.max_manifest_ttl)}), `
        + `got ${formatSpan(cfg.authority.manifest_ttl)}: every node would refuse these manifests`,
    });
  }
  if (cfg.authority) {
    const tracks = Object.keys(cfg.authority.tracks);
    if (tracks.length === 0) problems.push({ path: 'authority.tracks', message: 'expected at least one track' });
    cfg.node.tracks.forEach((t, i) => {
      if (!tracks.includes(t)) problems.push({ path: `node.tracks.${i}`, message: `expected one of the authority's tracks (${tracks.join(', ')}), got "${t}"` });
    });
    const st = cfg.authority.store;
    // a leader renews every second: below 2 s a healthy leader could be deposed between renewals
    if (st.kind === 'postgres' && st.stall_timeout < 2000) {
      problems.push({ path: 'authority.store.stall_timeout', message: `expected at least 2s, got ${formatSpan(st.stall_timeout)}` });
    }
    if (st.kind === 'postgres' && st.tls && Boolean(st.tls.cert_file) !== Boolean(st.tls.key_file)) {
      problems.push({ path: 'authority.store.tls', message: 'expected cert_file and key_file together (a client certificate needs its key)' });
    }
    for (const [key, entry] of Object.entries(cfg.authority.deployments)) {
      const track = entry.track ?? key;
      if (!tracks.includes(track)) problems.push({ path: `authority.deployments.${key}.track`, message: `expected one of the authority's tracks (${tracks.join(', ')}), got "${track}"` });
      try {
        resolvePolicy(entry);
      } catch (err) {
        problems.push({ path: `authority.deployments.${key}`, message: (err as Error).message });
      }
    }
    // The authority's own node holds and forwards every track it releases, whatever its app
    // runs: more than a digest carries and no peer would take any of them.
    if (tracks.length > MAX_HELD_TRACKS) {
      problems.push({
        path: 'authority.tracks',
        message: `expected at most ${MAX_HELD_TRACKS} tracks (the authority's node gossips a manifest of each), got ${tracks.length}`,
      });
    }
  } else if (cfg.node.tracks.length > MAX_HELD_TRACKS) {
    problems.push({
      path: 'node.tracks',
      message: `expected at most ${MAX_HELD_TRACKS} tracks (one gossip digest names them all), got ${cfg.node.tracks.length}`,
    });
  }
  return problems;
}

/** Validate parsed YAML; throws E_CONFIG listing every problem. */
export function validateConfig(raw: unknown, source = 'upshift.yaml'): Config {
  const parsed = configSchema.safeParse(raw ?? {});
  const problems: ConfigProblem[] = parsed.success
    ? crossFieldProblems(parsed.data)
    : parsed.error.issues.map((i) => ({ path: dotPath(i.path), message: i.message }));
  if (problems.length > 0 || !parsed.success) {
    const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
    throw new UpshiftError('E_CONFIG', `${source} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines}`, { details: { problems } });
  }
  return parsed.data;
}
