// The vocabulary of a pipeline run, shared by the machine, stages, store and front doors.

export const STAGES = ['build', 'test', 'audit', 'benchmark', 'sign', 'canary', 'deploy'] as const;
export type StageName = (typeof STAGES)[number];

/** Machine state names, in pipeline order, then the terminal ones. */
export const STATE_OF_STAGE: Record<StageName, string> = {
  build: 'building',
  test: 'testing',
  audit: 'auditing',
  benchmark: 'benchmarking',
  sign: 'signing',
  canary: 'canary',
  deploy: 'deploying',
};

export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'rolled_back';
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'rolled_back']);

export type Outcome = 'passed' | 'failed' | 'rolled_back' | 'skipped';

/** What a stage hands back to the machine; evidence lives in the store. */
export interface StageOutcome {
  outcome: Outcome;
  reason: string;
  code?: string;
}

/** The test counts TEST recorded for later stages (and the manifest's evidence). */
export interface TestFact {
  passed: number;
  failed: number;
  skipped: number;
  passRate: number;
}

/** BENCHMARK's summary: each `suite.metric` against the baseline. */
export interface BenchmarkFact {
  baselineVersion: string | null;
  metrics: Record<string, { value: number; better: 'lower' | 'higher'; baseline: number | null; change: number | null; worse: boolean }>;
}

/** Facts one stage hands to later ones, in typed columns; evidence is for people. */
export interface RunFacts {
  codeHash: string | null;
  test: TestFact | null;
  benchmark: BenchmarkFact | null;
}

export interface StageResult extends StageOutcome {
  runId: string;
  stage: StageName;
  evidence: Record<string, unknown>;
  startedAt: number;
  finishedAt: number;
  attempts: number;
}

export interface Run {
  id: string;
  track: string;
  version: string;
  ref: string;
  commit: string;
  status: RunStatus;
  /** machine state name: idle, building, …, completed, failed, rolled_back */
  stage: string;
  reason: string | null;
  code: string | null;
  retryOf: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export function stageOfState(state: string): StageName | null {
  for (const s of STAGES) if (STATE_OF_STAGE[s] === state) return s;
  return null;
}
