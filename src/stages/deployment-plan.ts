// Creating a deployment and the policy it runs with (issue 12): the keys of
// `authority.deployments` (one per track by default), a key's policy with one deploy's
// flags, the stable release a revert returns to, and the new version under a key. Shared by
// the pipeline's DEPLOY and the deployment services.
import { randomUUID } from 'node:crypto';
import type { AuthorityConfig } from '../core/config.js';
import { resolvePolicy, type PolicyFlags } from '../core/deploy-policy.js';
import { initialState } from '../core/decisions/rollout.js';
import { UpshiftError } from '../core/errors.js';
import type { Deployment, ReleaseRef } from '../core/deployment-records.js';
import type { StateStore as Store } from '../core/store-ports.js';

/** Every deployment key: one per track by default (named after it), plus each `authority.deployments` entry. */
export function deploymentKeys(a: AuthorityConfig): Record<string, { track: string; entry: AuthorityConfig['deployments'][string] | undefined }> {
  const out: Record<string, { track: string; entry: AuthorityConfig['deployments'][string] | undefined }> = {};
  for (const track of Object.keys(a.tracks)) out[track] = { track, entry: undefined };
  for (const [key, entry] of Object.entries(a.deployments)) out[key] = { track: entry.track ?? key, entry };
  return out;
}

/** The key the pipeline's DEPLOY of a track uses: the one named after it, else the first entry for it. */
export function keyForTrack(a: AuthorityConfig, track: string): string {
  const keys = deploymentKeys(a);
  if (keys[track]?.track === track) return track;
  return Object.keys(keys).find((k) => keys[k]?.track === track) ?? track;
}

export function keyOf(a: AuthorityConfig, key: string) {
  const k = deploymentKeys(a)[key];
  if (!k) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `unknown deployment key "${key}": expected one of ${Object.keys(deploymentKeys(a)).join(', ')}`, { details: { key } });
  return k;
}

/** The policy of a key with this deploy's flags (E_DEPLOY_POLICY for anything that does not fit). */
export function policyFor(a: AuthorityConfig, key: string, flags: PolicyFlags = {}) {
  const k = keyOf(a, key);
  const policy = resolvePolicy(k.entry, flags, { progress_deadline: a.deploy.progress_deadline, auto_revert: a.deploy.auto_revert });
  return { track: k.track, policy };
}

/** What runs fleet-wide before a deployment, and what a revert returns to: the newest healthy deployment, else the last completed run. */
export async function stableRelease(store: Store, track: string, exceptRun = ''): Promise<ReleaseRef | null> {
  const d = await store.deployments.lastSucceeded(track);
  const run = await store.lastStable(track, exceptRun);
  if (d && (!run || (d.finishedAt ?? 0) >= (run.finishedAt ?? 0))) return { ...d.target, number: d.number };
  if (!run) return null;
  const hash = (await store.runFacts(run.id)).codeHash;
  return hash ? { version: run.version, commit: run.commit, code_hash: hash, run: run.id, number: null } : null;
}

export interface CreateInput {
  key: string;
  track: string;
  policy: ReturnType<typeof policyFor>['policy'];
  target: ReleaseRef;
  runId: string | null;
  kind: 'release' | 'rollback';
  urgent: boolean;
  rollbackOf: number | null;
  live: Array<{ id: string; version: string | null }>;
}

/** A new version under a key; refused while another deployment of the key or track is active. */
export async function createDeployment(store: Store, now: number, input: CreateInput): Promise<Deployment> {
  const busy = (await store.deployments.active()).find((d) => d.key === input.key || d.track === input.track);
  if (busy) {
    throw new UpshiftError('E_DEPLOY_STATE', `deployment ${busy.key}#${busy.number} (${busy.id}) of track ${busy.track} is ${busy.status}: fail it or let it finish first`, { details: { active: busy.id } });
  }
  const stable = await stableRelease(store, input.track, input.runId ?? '');
  const preMoved = input.live.filter((n) => n.version === input.target.version).map((n) => n.id);
  return store.deployments.create({
    id: `dep-${randomUUID().slice(0, 8)}`, key: input.key, track: input.track, runId: input.runId, kind: input.kind,
    source: stable ? { version: stable.version, commit: stable.commit } : null, target: input.target,
    strategy: input.policy.strategy, policy: input.policy, urgent: input.urgent, status: 'running', state: initialState(now, preMoved),
    rollbackTarget: stable && stable.commit !== input.target.commit ? stable : null, rollbackOf: input.rollbackOf, createdAt: now,
  });
}

