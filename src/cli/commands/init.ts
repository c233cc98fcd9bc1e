// `upshift init`: write a commented starter upshift.yaml and this node's keys. Every target
// is checked before anything is written, so a refusal (E_EXISTS) leaves the directory as
// it was; a failure halfway removes what this run created.
import type { Command } from 'commander';
import { lstat, mkdir, rm, rmdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import { loadConfig } from '../../runtime/config-load.js';
import { toHex } from '../../trust/bytes.js';
import { generateKeyFile } from '../../trust/keyfile.js';
import { loadKeyset } from '../../trust/keyset.js';
import { action, printJson, say, type Session } from '../shared.js';
import { writeNewFile } from '../io.js';
import { APP_SECTION, DEFAULT_LISTEN, gossipSection, q } from './config-text.js';

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface InitOptions {
  authority?: boolean;
  dir?: string;
  fleet: string;
  nodeId?: string;
  source?: string;
  trustKey?: string[];
  json?: boolean;
}

type WrittenKey = { path: string; keyid: string; public: string };
type Written = { dir: string; config: string; nodeId: string; nodeKey: WrittenKey; releaseKey: WrittenKey | null; trusted: Array<{ keyid: string; public: string }> };

/** The hostname in the config's name rule: lowercase, other characters as "-", at most 63. */
export function defaultNodeId(host: string = hostname()): string {
  const id = host.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 63).replace(/[-_]+$/, '');
  return NAME.test(id) ? id : 'node';
}

export function registerInit(program: Command, session: Session): void {
  program
    .command('init')
    .description('write a starter upshift.yaml and this node\'s keys (never overwrites)')
    .option('--authority', 'make this node the release authority: also create keys/release.key and an authority section')
    .option('--dir <dir>', 'where to write (default: the current directory)')
    .option('--fleet <name>', 'fleet name', 'default')
    .option('--node-id <id>', 'this node\'s id (default: the hostname)')
    .option('--source <repo>', 'authority: the application\'s git repository (default: ../app)')
    .option('--trust-key <hex>', 'public key trusted to sign releases (repeatable; required without --authority)', collect)
    .option('--json', 'print JSON')
    .action(action(session, (opts: InitOptions) => init(opts)));
}

async function init(opts: InitOptions): Promise<void> {
  const nodeId = opts.nodeId ?? defaultNodeId();
  if (!NAME.test(opts.fleet)) throw new UpshiftError('E_USAGE', `--fleet "${opts.fleet}" must be lowercase letters, digits, "-" or "_" (max 63)`);
  if (!NAME.test(nodeId)) throw new UpshiftError('E_USAGE', `--node-id "${nodeId}" must be lowercase letters, digits, "-" or "_" (max 63)`);
  const trustKeys = opts.trustKey ?? [];
  if (!opts.authority && trustKeys.length === 0) {
    throw new UpshiftError('E_USAGE', 'a node needs at least one --trust-key (the authority\'s release public key), or --authority to be the authority');
  }
  if (!opts.authority && opts.source !== undefined) throw new UpshiftError('E_USAGE', '--source applies only with --authority');
  // Refuse malformed or small-order keys now rather than write a config that cannot load.
  if (trustKeys.length > 0) loadKeyset({ keys: trustKeys.map((hex) => ({ public: hex })) });

  const dir = resolve(opts.dir ?? '.');
  const keysDir = join(dir, 'keys');
  const paths = { config: join(dir, 'upshift.yaml'), nodeKey: join(keysDir, 'node.key'), releaseKey: join(keysDir, 'release.key') };
  const targets = [paths.config, paths.nodeKey, ...(opts.authority ? [paths.releaseKey] : [])];
  const existing: string[] = [];
  for (const p of targets) if (await exists(p)) existing.push(p);
  const keysStat = await lstat(keysDir).catch(() => null);
  if (keysStat && !keysStat.isDirectory()) existing.push(keysDir);
  if (existing.length > 0) {
    throw new UpshiftError('E_EXISTS', `refusing to overwrite ${existing.join(', ')}; nothing was written`, { details: { existing } });
  }

  const created: string[] = [];
  let written: Written;
  try {
    await mkdir(dir, { recursive: true });
    if (!keysStat) {
      await mkdir(keysDir, { mode: 0o700 });
      created.push(keysDir);
    }
    const nodeKey = await newKey(paths.nodeKey, created);
    const releaseKey = opts.authority ? await newKey(paths.releaseKey, created) : null;
    const keyset = loadKeyset({ keys: [...(releaseKey ? [releaseKey.public] : []), ...trustKeys].map((hex) => ({ public: hex })) });
    // Map order is insertion order: the release key first, repeats dropped.
    const trusted = [...keyset.keys].map(([keyid, pub]) => ({ keyid, public: toHex(pub) }));
    const text = renderConfig({
      fleet: opts.fleet,
      nodeId,
      trusted,
      releaseKeyid: releaseKey?.keyid ?? null,
      authority: opts.authority ? { source: opts.source ?? null } : null,
    });
    await writeNewFile(paths.config, text);
    created.push(paths.config);
    loadConfig(paths.config); // what init writes must load; a failure here is a bug, rolled back below
    written = { dir, config: paths.config, nodeId, nodeKey, releaseKey, trusted };
  } catch (err) {
    // Only what this run created, newest first, so keys/ is empty when its turn comes.
    for (const p of created.reverse()) await (p === keysDir ? rmdir(p) : rm(p, { force: true })).catch(() => undefined);
    throw err;
  }
  report(opts, written);
}

async function exists(path: string): Promise<boolean> {
  // lstat, so a dangling symlink counts too: writing through it would land somewhere else.
  return (await lstat(path).catch(() => null)) !== null;
}

async function newKey(path: string, created: string[]): Promise<WrittenKey> {
  const { keyid, publicKey } = await generateKeyFile(path);
  created.push(path);
  return { path, keyid, public: toHex(publicKey) };
}

function report(opts: InitOptions, r: Written): void {
  if (opts.json) {
    const keys = { node: r.nodeKey, ...(r.releaseKey ? { release: r.releaseKey } : {}) };
    printJson({ ok: true, dir: r.dir, config: r.config, fleet: opts.fleet, node_id: r.nodeId, authority: Boolean(opts.authority), keys, trust: { keys: r.trusted, threshold: 1 } });
    return;
  }
  say(`wrote ${r.config} (fleet ${opts.fleet}, node ${r.nodeId}${opts.authority ? ', release authority' : ''})`);
  say(`wrote ${r.nodeKey.path} (node identity key ${r.nodeKey.keyid})`);
  if (r.releaseKey) say(`wrote ${r.releaseKey.path} (release signing key ${r.releaseKey.keyid})`);
  say(`trusted release keys: ${r.trusted.map((k) => k.keyid).join(', ')} (threshold 1)`);
  if (r.releaseKey) {
    say('stage commands run as the unprivileged user upshift-build (authority.sandbox); create it with\n'
      + '  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin upshift-build');
    say(`next: point authority.source at your app and start \`upshift daemon\`; then for each node,\n`
      + '  upshift fleet token --node NAME [--labels region=eu]\nprints the one command to run on that node (README, "Run a real fleet")');
  } else {
    say(`next: upshift --config ${r.config} status`);
  }
}

interface TemplateInput {
  fleet: string;
  nodeId: string;
  trusted: Array<{ keyid: string; public: string }>;
  releaseKeyid: string | null;
  authority: { source: string | null } | null;
}


// The fleet channel (README "NATS fleet channel"), commented: gossip alone until an operator sets NATS.
const CHANNEL_SECTION = `
# The fleet channel: gossip alone (default), or NATS JetStream as well. With NATS, heartbeats,
# manifests and the revocation list also travel through the server; everything is verified
# here as if gossip had brought it, and gossip keeps running, carrying it all while NATS is down.
# channel:
#   kind: nats
#   servers: ["nats://nats-1.example:4222", "nats://nats-2.example:4222"]
#   creds_file: keys/nats.creds          # or: user: web-1 and password_file: keys/nats.pass
#   tls: { ca_file: keys/nats-ca.pem }   # for tls:// servers; cert_file/key_file for mutual TLS
#   max_frame_bytes: 65536
`;

// The OTA pull path (README "OTA"), commented: the defaults apply until an operator sets a feed.
const OTA_SECTION = `
# OTA: \`upshift ota check --apply\` (daily, by upshift-ota.timer) pulls the newest release
# of this node's track from a release feed when gossip cannot reach it. The feed is the
# GitHub Releases JSON shape; "{track}" is replaced by the track. Uncomment to use it.
# ota:
#   feed: https://authority.example.com:7400/v1/ota/{track}/releases.json   # or a file path
#   token_file: null          # the authority's read token, sent to the feed's origin only
#   allow: []                 # URL prefixes assets may come from; empty: the feed's origin
#   approval: { url: null, timeout: 10s }   # only 200 {"approved": true} is a yes
#   deadline: 30m             # the whole download
#   min_rate: 1024            # bytes/s over rate_window, else the transfer is given up
#   rate_window: 30s
#   staging_dir: null         # default <state_dir>/ota, private (0700)
#   publish: { dir: null, base_url: null }   # authority: write the feed there after each pass
`;

function renderConfig(i: TemplateInput): string {
  const keys = i.trusted
    .map((k) => `    - public: ${k.public}\n      keyid: ${q(k.keyid)}${k.keyid === i.releaseKeyid ? '  # keys/release.key' : ''}`)
    .join('\n');
  const head = `# upshift.yaml, written by \`upshift init\`. Durations look like 30s, 5m, 1h or 30d;
# relative paths resolve against this file's directory.

# The fleet this node belongs to; manifests for any other fleet are refused.
fleet: ${q(i.fleet)}

# SQLite state (runs, floors, apply journal). Under systemd, StateDirectory= is typical.
state_dir: state

node:
  # This node's name in the fleet: lowercase letters, digits, "-" and "_".
  # Its identity key for gossip is keys/node.key (keep it private, mode 0600).
  id: ${q(i.nodeId)}
  # Free-form labels such as { region: eu-west-1 }; canaries are spread across regions.
  labels: {}
  # Release tracks this node's app runs: testnet follows branch main, production v*.*.* tags.
  # The authority releases and gossips every track of authority.tracks whatever this says.
  tracks: [testnet]

# Keys trusted to sign release manifests, and how many distinct ones must sign each.
# Change keys with \`upshift keys rotate\`, never by editing one node alone.
trust:
  keys:
${keys}
  threshold: 1

${gossipSection({ listen: DEFAULT_LISTEN, seeds: [] })}${CHANNEL_SECTION}
${APP_SECTION}
${OTA_SECTION}
log:
  # trace, debug, info, warn, error, fatal or silent
  level: info
`;
  if (!i.authority) return head;
  const source = i.authority.source === null
    ? `${q('../app')}  # change to your application's repository: a path or a git URL`
    : q(i.authority.source);
  return `${head}
# This node is the release authority: it watches \`source\`, drives each new version
# through build, test, audit, benchmark, sign, canary and deploy, and signs manifests.
# Exactly one node in a fleet has this section.
authority:
  # The application's git repository: a path (relative to this file) or a git URL.
  source: ${source}
  # Private keys that sign manifests; their public keys must be in trust.keys.
  signing_keys: [keys/release.key]
  # Each track follows a branch (version = commit SHA) or a tag glob (version = the tag).
  tracks:
    testnet: { branch: main }
    production: { tags: "v*.*.*", include_prerelease: false }
  # How often to look for new commits and tags: cron syntax, 5 fields (minute hour day
  # month weekday), or 6 with seconds first ("0 */5 * * * *"). Checked when the config loads.
  poll: "*/5 * * * *"
  # How long a signed manifest stays valid.
  manifest_ttl: 30d
  # Where the authority's state lives: sqlite (one file in state_dir, one authority), or
  # postgres, shared by every replica with this config; one leads, the others serve reads
  # and queue approve/rollback/revoke/abort for it (README "Authority replicas on PostgreSQL").
  # The primary needs a synchronous standby, or a failover can lose a signed seq.
  store: { kind: sqlite }
  # store:
  #   kind: postgres
  #   hosts: [db1.example:5432, db2.example:5432]   # walked in order to the writable primary
  #   database: upshift
  #   user: upshift
  #   password_file: /etc/upshift/pg-password
  #   tls: { ca_file: /etc/upshift/pg-ca.pem }      # or false on a unix socket
  #   stall_timeout: 10s      # a leader that stops renewing this long is deposed
  #   # replica: auth-1       # default: node id, host name and pid
  build:
    # npm ci needs a lockfile; a repository without one gets npm install.
    command: if [ -f package-lock.json ]; then npm ci; else npm install --no-audit --no-fund; fi && npm run build --if-present
    timeout: 10m
  test:
    command: npm test
    # tap, junit, summary ("N passed, N failed") or auto to detect which.
    format: auto
    # A report file the suite writes inside the checkout; null reads the command's output.
    report: null
    timeout: 10m
    # Fraction of tests that must pass. A suite that reports nothing fails.
    min_pass_rate: 0.95
  audit:
    # Every command must exit 0 (lint, SAST, self-tests).
    commands:
      - npm run lint --if-present
      # - npm audit --omit=dev --audit-level=high
    # Globs that must be unchanged since the last stable release.
    protected_paths: []
    timeout: 5m
  benchmark:
    # Each suite prints JSON metrics as its last line, e.g.
    # {"metrics": {"latency_ms": {"value": 12.5, "better": "lower"}}}; it runs \`repeat\`
    # times and the medians are compared with the last stable release.
    suites: []
    #  - name: http
    #    command: node bench/http.js
    #    repeat: 3
    #    # fast or heavy: capture_benchmark and \`upshift bench capture --tier\` pick suites by it
    #    tier: fast
    # Benchmark repositories registered with \`upshift bench register\` run beside these.
    # Largest tolerated change for the worse (0.05 = 5%).
    tolerance: 0.05
    timeout: 10m
  canary:
    # Share of healthy nodes that get a release first (rounded up, at least one).
    fraction: 0.1
    # How long canaries must stay healthy before the rest of the fleet follows.
    soak: 30m
    # Largest tolerated rise of the canaries' error rate over the others (0.5 = +50%).
    max_error_increase: 0.5
    # Certificate labels the canaries are spread across (one per label value in turn).
    labels: [region]
    # auto, or manual: after a passing soak the run waits until promoted
    # (\`advance_upgrade_pipeline\`, README "Agent tools").
    promotion: auto
  # The fleet's heartbeat interval, signed as a fleet setting every node applies: \`base\` while
  # the fleet is small, then max(base, nodes / max_per_second), so this authority takes at most
  # max_per_second heartbeats a second. Canaries, their control sample and nodes applying stay
  # at base; a node whose state changes reports at once.
  # heartbeat:
  #   base: 5s
  #   max_per_second: 2000
  deploy:
    # How long every live node gets to confirm a release before the run stops (and, with
    # auto_revert: true, publishes a signed rollback to all).
    progress_deadline: 10m
  # Deployment policy per key (README "Deployments"); a key deploys the track of its name.
  # Left out, a track deploys rolling, one node at a time, with these defaults.
  # deployments:
  #   production:
  #     strategy: rolling        # rolling | canary | blue_green
  #     max_parallel: 1          # nodes moving at once: a count or a percentage like 25%
  #     canary: 0                # strategy canary: canary nodes (count or %), then wait for promote
  #     min_healthy: 10s         # how long a wave stays healthy before the next one starts
  #     healthy_deadline: 5m     # a node not healthy by then fails its wave
  #     progress_deadline: 10m   # no node turning healthy for this long fails the deployment
  #     health_check: checks     # checks: confirmed and health ok in heartbeats; agent_states: confirmed
  #     auto_promote: false
  #     auto_revert: false       # on failure, move every moved node back to the last stable release
  # Trust boundary: the application's build, test, audit and benchmark commands are untrusted
  # code. They run as this unprivileged user (the daemon runs as root and switches to it),
  # which must not be able to read keys/ or state/ (README, "Deployment model"). Create it:
  #   useradd --system --user-group --no-create-home --shell /usr/sbin/nologin upshift-build
  # "none" runs them as the daemon itself, able to read the signing keys: development only.
  sandbox:
    user: upshift-build
    # Work trees, outside state_dir: the directory is the daemon's, each tree the user's.
    work_dir: work
    # Daemon environment variables a build may see besides PATH, LANG, LC_ALL, TZ and UPSHIFT_*.
    env: []

# Agent tools over HTTP (README, "Agent tools"): POST /v1/tools/<name> needs this bearer
# token; without one the daemon serves no tools. Make it with
#   openssl rand -hex 32 > keys/tools.token && chmod 600 keys/tools.token
# http:
#   tools_token_file: keys/tools.token
`;
}
