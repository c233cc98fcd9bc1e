// Sections of upshift.yaml that `init` and `join` both write, commented where an operator
// sets them. A JSON string is also a YAML double-quoted scalar, so user input cannot break a file.
import type { TrustDoc } from '../../trust/keyset-fingerprint.js';

export const q = (s: string): string => JSON.stringify(s);

/** The default gossip.listen, stated in every config written (config.ts has the same default). */
export const DEFAULT_LISTEN = '127.0.0.1:7400';

/** A whole number of the largest unit that divides `ms` exactly, so the config reads back the same value. */
export function exactDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** gossip and http: where this daemon listens, and the seeds it greets first. */
export interface GossipText {
  listen: string;
  advertise?: string | undefined;
  seeds: string[];
  readTokenFile?: string | undefined;
}

export function gossipSection(i: GossipText): string {
  const advertise = i.advertise ? `  advertise: ${q(i.advertise)}` : '  # advertise: "http://10.0.0.5:7400"';
  const seeds = i.seeds.length ? `[${i.seeds.map(q).join(', ')}]` : '[]';
  const http = i.readTokenFile
    ? 'http:\n  # /v1/status and /metrics need Authorization: Bearer <this file\'s token> (listen is beyond loopback).\n'
      + `  read_token_file: ${q(i.readTokenFile)}\n`
    : '# http:\n#   tls: { cert: keys/tls.crt, key: keys/tls.key }   # serve HTTPS (README, "TLS and exposure")\n'
      + '#   read_token_file: keys/read.token                # needed to listen beyond loopback\n';
  return `gossip:
  # Where this daemon serves gossip, /healthz, /readyz, /v1/status and /metrics (and, on the
  # authority, /v1/join). Default ${DEFAULT_LISTEN}: loopback only. Another daemon on the same
  # address fails to start with E_LISTEN naming this setting.
  listen: ${q(i.listen)}
  # How peers call this node (named in its certificate); default http://<listen>.
${advertise}
  # Peers greeted at start: the authority's URL (e.g. ["https://auth.example:7400"]), so this
  # node is heard and learns the others. \`upshift join --trust\` fills it in.
  seeds: ${seeds}
  # While nothing changes, pushes thin out from gossip.interval (1s) up to this; anything
  # new pushes at once. Set it to the interval to push every round.
  # idle_interval: 8s

${http}`;
}

/**
 * The commented app section: without it a node verifies, holds and gossips releases but
 * runs none. Two examples, the same fields; the restart contract is the README's.
 */
export const APP_SECTION = `# The application this node runs. Without this section the node runs no app: it verifies,
# holds and gossips releases but applies none. Uncomment ONE example and fill it in.
# Layout under dir: releases/<version>-<sha12>/, current -> releases/..., shared/, floors/.
# install and migrate run in the new release dir; restart runs in dir once current points
# at the new release, with UPSHIFT_APP_DIR, UPSHIFT_RELEASE, UPSHIFT_RELEASE_DIR and
# UPSHIFT_REASON (apply, rollback, reconcile, boot) set. restart must return once the app
# is started (not wait for it, not keep stdout open); each hook has hook_timeout.
# health.url (http or https) must answer 2xx; metrics.url serves Prometheus counters.
#
# (a) An app with its own systemd unit (enabled: systemd starts it at boot):
# app:
#   dir: /srv/myapp
#   remote: https://git.example.com/myapp.git   # releases are fetched from here, by commit
#   install: npm ci --omit=dev                  # or null
#   migrate: null                               # e.g. node migrate.js
#   restart: systemctl restart myapp.service
#   hook_timeout: 10m
#   health: { url: "http://127.0.0.1:8080/healthz", timeout: 2s, interval: 1s }
#   metrics: { url: "http://127.0.0.1:8080/metrics", errors: app_errors_total, requests: app_requests_total, window: 30s }
#   # smoke: { command: "node bench/smoke.js", tolerance: 0.1, timeout: 2m }   # canary criterion 5
#   healthy_deadline: 5m   # a new release must answer health within this
#   min_healthy: 10s       # and then stay healthy this long to be confirmed
#   attest_every: 1m       # re-hash current from a stat cache (inode, size, mtime, ctime)
#   attest_full_every: 1h  # and read every file again this often
#
# (b) A plain process the restart command starts in the background (the daemon starts it
# again at boot when its health probe fails):
# app:
#   dir: app
#   remote: https://git.example.com/myapp.git
#   install: null
#   restart: kill "$(cat shared/app.pid 2>/dev/null)" 2>/dev/null; sleep 1; cd "$UPSHIFT_RELEASE_DIR" && { PORT=8080 setsid node server.js >>"$UPSHIFT_APP_DIR/shared/app.log" 2>&1 </dev/null & echo $! >"$UPSHIFT_APP_DIR/shared/app.pid"; }
#   health: { url: "http://127.0.0.1:8080/healthz" }
#   metrics: { url: "http://127.0.0.1:8080/metrics", errors: app_errors_total, requests: app_requests_total }
#
# (c) Blue-green (README "Blue-green"): clients connect to blue_green.listen, a proxy in the
# daemon; restart starts the release in a slot on UPSHIFT_PORT (UPSHIFT_SLOT blue or green)
# beside the one serving, health is probed on that port, then new connections go there and
# stop runs for the old slot once drain has passed. Any release switches this way here.
# app:
#   dir: app
#   remote: https://git.example.com/myapp.git
#   restart: kill "$(cat shared/$UPSHIFT_SLOT.pid 2>/dev/null)" 2>/dev/null; cd "$UPSHIFT_RELEASE_DIR" && { PORT=$UPSHIFT_PORT setsid node server.js >>"$UPSHIFT_APP_DIR/shared/$UPSHIFT_SLOT.log" 2>&1 </dev/null & echo $! >"$UPSHIFT_APP_DIR/shared/$UPSHIFT_SLOT.pid"; }
#   health: { url: "http://127.0.0.1:8080/healthz" }   # the proxy; slots are probed on their own port
#   blue_green:
#     listen: 0.0.0.0:8080     # where clients connect
#     ports: [8081, 8082]      # blue, green: on 127.0.0.1, never listen's port
#     drain: 10s               # connections opened before the flip finish on the old slot this long
#     stop: kill "$(cat shared/$UPSHIFT_SLOT.pid)"
`;

export interface JoinedConfig {
  authority: string;
  trustFingerprint: string;
  fleet: string;
  nodeId: string;
  labels: Record<string, string>;
  tracks: string[];
  trust: TrustDoc;
  listen: string;
  advertise?: string | undefined;
  readTokenFile?: string | undefined;
}

/** The upshift.yaml `join` writes on a fresh node: everything but the app is filled in. */
export function renderJoinedConfig(i: JoinedConfig): string {
  const keys = i.trust.keys.map((k) => `    - public: ${k.public}\n      keyid: ${q(k.keyid)}`).join('\n');
  return `# upshift.yaml, written by \`upshift join\` from the authority at ${i.authority}.
# Durations look like 30s, 5m, 1h or 30d; relative paths resolve against this file's directory.
# Next: fill in the app section below (or leave it out), then run \`upshift daemon\`.

fleet: ${q(i.fleet)}

# SQLite state (apply journal, floors, peers). Under systemd, StateDirectory= is typical.
state_dir: state

node:
  id: ${q(i.nodeId)}
  # As the authority certified them (a token's labels win); canaries are spread across them.
  labels: ${JSON.stringify(i.labels)}
  # Release tracks this node's app runs.
  tracks: [${i.tracks.join(', ')}]
  # Identity: key keys/node.key (0600) and certificate keys/node.cert, written by join.

# The release keys, as the authority serves them, checked against ${i.trustFingerprint}.
# Change them only with \`upshift keys rotate\` on the authority.
trust:
  keys:
${keys}
  threshold: ${i.trust.threshold}
  max_manifest_ttl: ${exactDuration(i.trust.max_manifest_ttl)}
  clock_skew: ${exactDuration(i.trust.clock_skew)}

${gossipSection({ listen: i.listen, advertise: i.advertise, seeds: [i.authority], readTokenFile: i.readTokenFile })}
${APP_SECTION}
log:
  # trace, debug, info, warn, error, fatal or silent
  level: info
`;
}
