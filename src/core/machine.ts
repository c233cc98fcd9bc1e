// The pipeline as an xstate v5 machine. Stage work lives in named promise actors that
// runtime/ provides (`machine.provide({ actors })`); here they are placeholders, so the
// machine can be stepped purely with `transition()` in tests.
import { assign, fromPromise, setup } from 'xstate';
import type { StageName, StageOutcome } from './run.js';

/** Bump when states, context or events change shape: a stored snapshot of another version is not resumed. */
export const MACHINE_VERSION = 1;

export interface PipelineInput {
  runId: string;
  track: string;
  version: string;
  commit: string;
}

export interface StopInfo {
  stage: string;
  outcome: 'failed' | 'rolled_back' | 'aborted';
  reason: string;
  code: string | null;
}

export interface PipelineContext extends PipelineInput {
  outcomes: Partial<Record<StageName, StageOutcome>>;
  stop: StopInfo | null;
  abort: { reason: string; by: string } | null;
}

export type PipelineEvent = { type: 'START' } | { type: 'ABORT'; reason: string; by: string };

export interface StageInput {
  runId: string;
  stage: StageName;
}

export interface RevertInput {
  runId: string;
  reason: string;
}

const notProvided = (name: string) =>
  fromPromise<StageOutcome, StageInput>(async () => {
    throw new Error(`stage actor "${name}" was not provided`);
  });

type DoneEvent = { output: StageOutcome };
type ErrorEvent = { error: unknown };

const errorText = (e: unknown): { reason: string; code: string | null } => {
  const err = e as { message?: string; code?: string } | undefined;
  return { reason: err?.message ?? String(e), code: typeof err?.code === 'string' ? err.code : null };
};

export const pipelineMachine = setup({
  types: {
    context: {} as PipelineContext,
    events: {} as PipelineEvent,
    input: {} as PipelineInput,
  },
  actors: {
    build: notProvided('build'),
    test: notProvided('test'),
    audit: notProvided('audit'),
    benchmark: notProvided('benchmark'),
    sign: notProvided('sign'),
    canary: notProvided('canary'),
    deploy: notProvided('deploy'),
    revert: fromPromise<StageOutcome, RevertInput>(async () => {
      throw new Error('actor "revert" was not provided');
    }),
  },
  guards: {
    stagePassed: (_, p: DoneEvent) => p.output.outcome === 'passed' || p.output.outcome === 'skipped',
    stageRolledBack: (_, p: DoneEvent) => p.output.outcome === 'rolled_back',
  },
  actions: {
    recordOutcome: assign(({ context }, p: { stage: StageName; output: StageOutcome }) => ({
      outcomes: { ...context.outcomes, [p.stage]: p.output },
      stop:
        p.output.outcome === 'failed' || p.output.outcome === 'rolled_back'
          ? { stage: p.stage, outcome: p.output.outcome, reason: p.output.reason, code: p.output.code ?? null }
          : context.stop,
    })),
    recordError: assign((_, p: { stage: string; error: unknown }) => ({
      stop: { stage: p.stage, outcome: 'failed' as const, ...errorText(p.error) },
    })),
    recordAbort: assign((_, p: { stage: string; reason: string; by: string }) => ({
      abort: { reason: p.reason, by: p.by },
      stop: { stage: p.stage, outcome: 'aborted' as const, reason: `aborted by ${p.by}: ${p.reason}`, code: null },
    })),
  },
}).createMachine({
  id: 'pipeline',
  context: ({ input }) => ({ ...input, outcomes: {}, stop: null, abort: null }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        START: 'building',
        ABORT: { target: 'rolled_back', actions: { type: 'recordAbort', params: ({ event }) => ({ stage: 'idle', reason: event.reason, by: event.by }) } },
      },
    },
    building: stage('build', 'testing'),
    testing: stage('test', 'auditing'),
    auditing: stage('audit', 'benchmarking'),
    benchmarking: stage('benchmark', 'signing'),
    signing: stage('sign', 'canary'),
    canary: stage('canary', 'deploying', 'reverting'),
    deploying: stage('deploy', 'completed', 'reverting'),
    reverting: {
      invoke: {
        id: 'revert',
        src: 'revert',
        input: ({ context }) => ({ runId: context.runId, reason: context.abort?.reason ?? context.stop?.reason ?? 'aborted' }),
        onDone: 'rolled_back',
        onError: { target: 'failed', actions: { type: 'recordError', params: ({ event }) => ({ stage: 'revert', error: event.error }) } },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    rolled_back: { type: 'final' },
  },
});

/**
 * One stage state: invoke the named actor; its outcome (passed/skipped, rolled_back,
 * failed) picks the next state, so each stage decides what its gate failing means. An ABORT
 * before anything reached the fleet ends the run; from canary or deploy it goes through
 * `reverting`, which publishes a signed rollback.
 */
function stage<N extends StageName>(
  name: N,
  next: 'testing' | 'auditing' | 'benchmarking' | 'signing' | 'canary' | 'deploying' | 'completed',
  onAbort: 'rolled_back' | 'reverting' = 'rolled_back',
) {
  const params = ({ event }: { event: DoneEvent }) => ({ stage: name, output: event.output });
  return {
    invoke: {
      id: name,
      src: name,
      input: ({ context }: { context: PipelineContext }) => ({ runId: context.runId, stage: name }),
      onDone: [
        { guard: { type: 'stagePassed', params: ({ event }: { event: DoneEvent }) => event }, target: next, actions: { type: 'recordOutcome', params } },
        { guard: { type: 'stageRolledBack', params: ({ event }: { event: DoneEvent }) => event }, target: 'rolled_back', actions: { type: 'recordOutcome', params } },
        { target: 'failed', actions: { type: 'recordOutcome', params } },
      ],
      onError: { target: 'failed', actions: { type: 'recordError', params: ({ event }: { event: ErrorEvent }) => ({ stage: name, error: event.error }) } },
    },
    on: {
      ABORT: { target: onAbort, actions: { type: 'recordAbort', params: ({ event }: { event: { reason: string; by: string } }) => ({ stage: name, reason: event.reason, by: event.by }) } },
    },
  } as const;
}
