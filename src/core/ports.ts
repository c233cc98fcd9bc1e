// Interfaces between the pure core and the adapters that do I/O. Adapters implement
// them; runtime/ wires them; tests swap the edges they cannot run (clock, systemd).
import type { CanaryCandidate } from './decisions/canary.js';
import type { NodeState } from './node-state.js';

// The storage ports (one file of their own; every method async, every method atomic).
export type * from './store-ports.js';

/** A named crash point for the kill -9 tests; a no-op unless armed (adapters/failpoints.ts). */
export type Failpoint = (name: string) => void;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` or rejects with E_CANCELLED when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface ExecRequest {
  /** A shell command line, run with `/bin/sh -c` in its own process group. */
  command: string;
  cwd: string;
  env?: Record<string, string>;
  /** Kill the whole process group after this many ms (SIGTERM, then SIGKILL after `killGraceMs`). */
  timeoutMs: number;
  killGraceMs?: number;
  signal?: AbortSignal;
  /** Bytes of combined stdout+stderr kept as the tail (default 64 KiB). */
  tailBytes?: number;
  /** Called once the child is spawned, with its pid (= process group id). */
  onSpawn?: (pid: number) => void;
  /** Run as this user and group instead of the daemon's (needs root); supplementary groups are dropped. */
  uid?: number;
  gid?: number;
  /** false: the command gets exactly `env`, nothing of the daemon's own environment. */
  inheritEnv?: boolean;
}

export interface ExecResult {
  command: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  /** Full stdout, capped at `maxStdoutBytes` (test reports and benchmark JSON are read from it). */
  stdout: string;
  stdoutTruncated: boolean;
  /** The last `tailBytes` of stdout and stderr interleaved as they arrived. */
  tail: string;
  /** The end of stderr alone (16 KiB). */
  stderrTail: string;
}

export interface Exec {
  run(req: ExecRequest): Promise<ExecResult>;
}

/**
 * Where and as whom the application's (untrusted) stage commands run, SPEC "Trust boundary":
 * another uid, a scrubbed environment, work trees outside the state dir.
 */
export interface StageSandbox {
  /** Parent of the per-run work trees. */
  readonly workRoot: string;
  /** Resolve the user and check, as that user, that no key and no state is within reach (E_SANDBOX). */
  ready(): Promise<void>;
  /** The user and the whole environment a stage command runs with; call after ready(). */
  spawnAs(vars: Record<string, string>): { uid?: number; gid?: number; env: Record<string, string> };
  /** Give a fresh checkout to the build user, once the daemon has hashed it. */
  handOver(dir: string): Promise<void>;
  /** Empty a work tree with the build user's rights, so the daemon never walks a tree the build controlled. */
  clear(dir: string): Promise<void>;
  /** A file read with the build user's rights (no symlink reaches past them); null if it cannot be read. */
  readFile(path: string): Promise<string | null>;
}

export interface TreeEntry {
  path: string;
  mode: string;
  /** git blob id */
  oid: string;
}

export interface SourceRepo {
  /** Fetch branches and tags from the configured source into the local mirror. */
  fetch(signal?: AbortSignal): Promise<void>;
  /** Resolve a branch, tag, or commit id to a full commit SHA; E_UNKNOWN_REF if it does not exist. */
  resolve(ref: string): Promise<string>;
  /** Head commit of a branch in the mirror, or null when the branch does not exist. */
  branchHead(branch: string): Promise<string | null>;
  /** Tags with the commit each points to (annotated tags peeled). */
  tags(): Promise<Array<{ tag: string; commit: string }>>;
  /** Create a fresh detached work tree of `commit` at `dir` (removing any leftover first). */
  checkout(commit: string, dir: string, signal?: AbortSignal): Promise<void>;
  /** Remove a work tree created by `checkout`. */
  removeWorktree(dir: string): Promise<void>;
  /** Every file of a commit's tree, recursively. */
  tree(commit: string): Promise<TreeEntry[]>;
}

/**
 * What publishing did: the manifest is verified and held by the authority's own node for
 * gossip (`same` when it already was). Whether nodes took it up shows in their heartbeats.
 */
export interface Publication {
  held: 'accepted' | 'same';
}

/** How the pipeline reaches nodes. The authority's own node is always one of them. */
export interface FleetPort {
  /** The current state of every node known (revoked ones left out), self included. */
  nodes(): Promise<NodeState[]>;
  /** Peers eligible as canaries: verified and healthy, never the authority itself. */
  canaryCandidates(track: string): Promise<CanaryCandidate[]>;
  /** Hand a signed manifest (envelope JSON) to gossip; the nodes it targets pull it from there. */
  publish(envelope: string, track: string): Promise<Publication>;
  /**
   * When this process began hearing heartbeats (the daemon's start, a new leader's takeover):
   * a node heard only before may be described by a past this authority did not see. Absent:
   * no such bound (a pipeline driven from the CLI).
   */
  readonly hearingSince?: number;
}
