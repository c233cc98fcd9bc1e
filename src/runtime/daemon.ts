// The composition root of `upshift daemon`: the store, keyset, node runtime (identity,
// gossip agent, apply engine), the authority's pipeline and loop, and the HTTP routes,
// built in one place. The CLI command, the demo's daemons and the tests all come here.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import { PeerUrlPolicy } from '../core/peer-url.js';
import type { Clock } from '../core/ports.js';
import type { Logger } from '../adapters/logger.js';
import type { StateStore } from '../core/ports.js';
import { gossipRoutes } from '../http/gossip-routes.js';
import { loadHttpExposure, requireReadToken } from '../http/exposure.js';
import { toolsRoute, type RouteAnswer } from '../http/routes/tools.js';
import { buildServer, listenOptions } from '../http/server.js';
import type { Authority } from './authority.js';
import type { DeploymentDriver } from './deployment-driver.js';
import { gossipFleet } from './gossip-fleet.js';
import { createNodeRuntime } from './node-runtime.js';
import type { NatsFleet } from './nats-fleet.js';
import type { PipelineService } from './pipeline-service.js';
import { sourceHealth } from './source-health.js';
import { withFleetView } from './heartbeat-ingest.js';
import { HeartbeatPacer } from './heartbeat-pacer.js';
import { nodeStatus, storedManifestsView } from './status.js';
import type { AuthorityStore } from './open-store.js';
import type { Effects, Replica } from './replica.js';

export interface Daemon {
  server: FastifyInstance;
  /** The pipeline on the authority; null on other nodes. */
  pipeline: PipelineService | null;
  /** Listen, start gossip and applies, and on the authority the poll-and-drive loop. */
  start(): Promise<string>;
  /** Stop the loop, the node and the server; runs and applies stay persisted. */
  stop(): Promise<void>;
  /** Resolves when this replica lost its leadership (E_FENCED): the process must exit non-zero. Never on SQLite. */
  readonly fatal: Promise<UpshiftError>;
  /** Authority replicas on PostgreSQL: this one (its leadership and name); null otherwise. */
  readonly replica: Replica | null;
}

export interface DaemonDeps {
  config: Config;
  /** Opened only once the config passed the checks that need no state. */
  openStore: () => StateStore;
  /** Instead of openStore: the authority's store (PostgreSQL replicas come with their session). */
  openAuthorityStore?: () => Promise<AuthorityStore>;
  log: Logger;
  clock: Clock;
  /** With openAuthorityStore on PostgreSQL: what a replica runs from the layers above (loaded only then). */
  replicaParts?: () => Promise<ReplicaParts>;
  /**
   * The agent tools (tools/index.ts callTool), from the layer above; loaded at the first call by
   * whoever hands them in. Absent: POST /v1/tools answers E_CONFIG.
   */
  callTool?: (env: DaemonToolEnv, name: string, args: unknown) => Promise<RouteAnswer>;
}

/** What a tool call is given here (tools/tool.ts ToolEnv), as far as the daemon builds it. */
export interface DaemonToolEnv { ctx: ActorContext; pipeline(): PipelineService; drive: boolean; signal: AbortSignal }

/**
 * What an authority replica on PostgreSQL runs that calls services and tools, above this layer:
 * the CLI hands them in, as the daemon hands the tools to the HTTP route.
 */
export interface ReplicaParts {
  /** The leader's executor of queued commands (services/command-queue.ts), an effect like the loop. */
  commandExecutor(p: PipelineService, ctx: ActorContext, replica: Replica): Effects;
  /** A follower's tool door (tools/replica-tools.ts): queued for the leader or refused; null: call here. */
  followerTool(
    d: { config: Config; store: StateStore; replica: Replica }, actor: string, name: string, raw: unknown,
  ): Promise<RouteAnswer | null>;
}

/** What a service is given (services/context.ts ServiceContext), as far as the daemon builds it. */
interface ActorContext { config: Config; store: StateStore; clock: Clock; log: Logger; actor: string }

export async function createDaemon(
  { config, openStore, openAuthorityStore, log, clock, replicaParts, callTool }: DaemonDeps,
): Promise<Daemon> {
  // before anything is opened or created: a front door that would show too much does not start
  const exposure = loadHttpExposure(config);
  const opened = openAuthorityStore ? await openAuthorityStore() : { store: openStore(), session: null };
  // PostgreSQL (and pg) is loaded only on an authority replica
  const replicas = opened.session ? await import('./replica-daemon.js') : null;
  const replica = replicas && opened.session ? replicas.createReplica(config, opened.session, log) : null;
  if (replica && !replicaParts) {
    // without them a leader would never carry out a queued command: refuse to start
    throw new UpshiftError('E_INTERNAL', 'a replica daemon needs replicaParts (command executor, tool door)');
  }
  const parts = replica && replicaParts ? await replicaParts() : null;
  const node = await createNodeRuntime(config, opened.store, log, clock);
  // what the daemon answers and judges merges the heartbeats it heard over the store's rows
  const store = node.ingest ? withFleetView(opened.store, node.ingest.view()) : opened.store;
  const agent = node.agent;
  // the push right after a publish is a head start; the interval timer pushes anyway
  const pushNow = () => void agent?.tick().catch((err: unknown) =>
    log.warn({ module: 'gossip', err: (err as Error).message }, 'push after publish failed; the next round carries it'));
  // the pipeline reaches the fleet through this node's own gossip agent
  const fleet = agent ? gossipFleet(config, store, clock, agent.source, pushNow, node.ingest?.startedAt) : undefined;
  // the pipeline (xstate, the stages, git, test-report parsers, cron) is loaded on the authority only
  const authorityModules = config.authority ? await loadAuthorityModules() : null;
  const pipeline = authorityModules
    ? new authorityModules.PipelineService(authorityModules.pipelineDeps(config, store, log, { clock, ...(fleet ? { fleet } : {}) }))
    : null;
  if (pipeline && replica) {
    // on replicas: effects start only on a fresh leader
    pipeline.deps.mayAct = (what) => replica.guard(what);
    pipeline.deps.rebuildMissingWorkTree = true;
  }
  if (pipeline) {
    // no seq at or below one this node holds, or the NATS stream carries, unless the store holds
    // it: a replica after a lossy failover, or a SQLite authority restored from an old backup
    const channel = node.channel;
    pipeline.deps.published = async (track) => {
      const envelope = agent?.source.get(track) ?? null;
      const payload = agent?.source.payload(track) ?? null;
      const own = envelope && payload ? [{ seq: payload.seq, envelope }] : [];
      const carried = channel ? await channel.lastPublished(track) : null;
      return carried ? [...own, carried] : own;
    };
  }
  if (pipeline) {
    await pipeline.deps.loadSigners();
    // refuse to start rather than poll and fail every version at BUILD (E_SANDBOX)
    await pipeline.deps.sandbox.ready();
  }

  const readiness: Record<string, () => Promise<void> | void> = {
    gossip: () => {
      if (node.problem) throw new Error(node.problem);
    },
  };
  const plugins: Array<(app: FastifyInstance) => void> = agent ? [gossipRoutes(agent, config.gossip)] : [];
  if (pipeline && authorityModules) {
    const { joinRoute, handleJoin, joinInfo, otaRoutes } = authorityModules;
    const keys = () => pipeline.deps.loadSigners();
    readiness.signing_keys = async () => void (await keys());
    // a source that cannot be fetched, or a tracked branch it lacks, means no new version ever runs
    readiness.source = async () => {
      const { problems } = await sourceHealth(config, store);
      if (problems.length) throw new Error(problems.join('; '));
    };
    const peerPolicy = new PeerUrlPolicy(config.gossip.allow);
    const issue = { store, keyset: pipeline.deps.keyset, fleet: config.fleet, now: () => clock.now(), peerPolicy };
    const info = joinInfo(config, pipeline.deps.keyset);
    plugins.push(joinRoute(async (body) => handleJoin(body, { ...issue, signers: await keys() }), () => info));
    // the OTA feed `ota publish` writes, read-only (and the same read token as /v1/status when set)
    const otaDir = config.ota.publish.dir;
    if (otaDir) plugins.push(otaRoutes(otaDir, exposure.readToken ? requireReadToken(exposure.readToken) : undefined));
  }
  // the agent tools: refused without http.tools_token_file; runs they start are driven here
  const toolsStop = new AbortController();
  const toolEnv = (actor: string): DaemonToolEnv => ({
    ctx: { config, store, clock, log, actor },
    pipeline: () => {
      if (!pipeline) throw new UpshiftError('E_CONFIG', 'this node has no `authority:` section: only the authority runs upgrades');
      return pipeline;
    },
    drive: true,
    signal: toolsStop.signal,
  });
  const noTools = { ok: false, error: { code: 'E_CONFIG' as const, message: 'this daemon was started without the agent tools' } };
  plugins.push(toolsRoute(exposure.toolsToken ?? null, async (actor, name, args) =>
    // a follower replica queues a rollback for the leader and refuses what only the leader does
    (parts && replica ? await parts.followerTool({ config, store, replica }, actor, name, args) : null)
      ?? (callTool ? await callTool(toolEnv(actor), name, args) : noTools)));
  // one view of the stored manifests for a node without an agent, verified when they change, not per request
  const stored = storedManifestsView(config, store);
  const held = async () => agent?.source ?? await stored();
  const server = buildServer({
    config, store, log, readiness, plugins, exposure,
    // what gossip verified on arrival; a node without an agent reads its store once
    status: async () => await nodeStatus(config, store, {
      peers: agent?.node.members().length ?? 0, held: await held(), now: clock.now(),
      ...(replicas && opened.session ? { authorityStore: replicas.storeStatus(config, opened.session) } : {}),
    }),
    heldSeq: async (track) => (await held()).payloads(track)[0]?.seq ?? null,
    ...(pipeline ? { source: () => sourceHealth(config, store) } : {}),
    ...(agent ? { gossip: () => agent.gossipCounts() } : {}),
    ...(node.channel ? { channel: () => (node.channel as NatsFleet).counts() } : {}),
    now: () => clock.now(),
  });
  const authority: Authority | null = pipeline && authorityModules ? new authorityModules.Authority(pipeline) : null;
  // the authority sizes the fleet's heartbeat interval and signs it as a fleet setting
  const pacer = pipeline && agent
    ? new HeartbeatPacer({ config, store, source: agent.source, signers: () => pipeline.deps.loadSigners(), clock, log: log.child({ module: 'heartbeats' }) })
    : null;
  const deployments: DeploymentDriver | null = pipeline && authorityModules
    ? new authorityModules.DeploymentDriver(pipeline.deps, pipeline.deps.authority.canary.check_every) : null;
  const executor = parts && replica && pipeline
    ? parts.commandExecutor(pipeline, { config, store, clock, log, actor: `leader:${replica.name}` }, replica)
    : null;
  const effects = {
    start: () => {
      authority?.start();
      deployments?.start();
      pacer?.start();
      executor?.start();
    },
    stop: async () => void await Promise.allSettled([authority?.stop(), deployments?.stop(), pacer?.stop(), executor?.stop()]),
  };
  let fail: (err: UpshiftError) => void = () => {};
  const fatal = new Promise<UpshiftError>((resolve) => { fail = resolve; });
  const stop = async () => {
    toolsStop.abort();
    // a leader finishes its write in progress, then resigns; the others just stop following
    await (replica ? replica.stop() : effects.stop());
    await Promise.allSettled([node.stop(), server.close()]);
  };

  return {
    server,
    pipeline,
    async start() {
      let address: string;
      try {
        address = await listen(server, config.gossip.listen);
        await node.start();
        if (replica) replica.start(effects, fail);
        else effects.start();
      } catch (err) {
        // a daemon that cannot start stops whole: no server answering /healthz over a closed store
        await stop();
        throw err;
      }
      log.info({ node: config.node.id, address, authority: Boolean(authority), gossip: node.problem ?? 'on', channel: config.channel.kind, ...(replica ? { replica: replica.name } : {}) },
        config.authority ? 'authority daemon started' : 'node daemon started');
      return address;
    },
    stop,
    fatal,
    replica,
  };
}

async function loadAuthorityModules() {
  const [{ Authority }, { pipelineDeps }, { PipelineService }, { joinRoute }, { handleJoin }, { joinInfo }, { otaRoutes }, { DeploymentDriver }] =
    await Promise.all([
      import('./authority.js'), import('./deps.js'), import('./pipeline-service.js'),
      import('../http/routes/join.js'), import('../node/identity.js'), import('../node/join-info.js'),
      import('../http/ota-routes.js'), import('./deployment-driver.js'),
    ]);
  return { Authority, pipelineDeps, PipelineService, joinRoute, handleJoin, joinInfo, otaRoutes, DeploymentDriver };
}

/** Refusals to bind name the setting and the address (EADDRINUSE is usually a second daemon). */
async function listen(server: FastifyInstance, address: string): Promise<string> {
  try {
    return await server.listen(listenOptions(address));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      EADDRINUSE: 'the address is in use (is another upshift daemon running?)',
      EACCES: 'permission denied (ports below 1024 need privileges)',
      EADDRNOTAVAIL: 'no interface on this host has that address',
    };
    if (code === undefined || !(code in why)) throw err;
    throw new UpshiftError('E_LISTEN', `gossip.listen: cannot listen on ${address}: ${why[code]}`,
      { cause: err, details: { listen: address, errno: code } });
  }
}
