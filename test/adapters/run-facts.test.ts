// Typed facts of runs recorded before the SQLite facts table existed, recovered from their
// evidence. (Recording and reading facts is a contract test: test/contract/run-facts-plans.test.ts.)
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { StageResult } from '../../src/core/run.js';
import { tempDir } from '../helpers/tmp.js';

const HASH = 'ab'.repeat(32);
const result = (runId: string, stage: StageResult['stage'], evidence: Record<string, unknown>): StageResult =>
  ({ runId, stage, outcome: 'passed', reason: 'ok', evidence, startedAt: 1, finishedAt: 2, attempts: 1 });

async function storeWithRun(t: Tap.Test, file = join(tempDir(t), 'upshift.db')): Promise<Store> {
  const store = Store.open(file, () => 1_000);
  await store.createRun({ id: 'r1', track: 'testnet', version: 'v1', ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: 1 });
  return store;
}

t.test('runs recorded before migration 4 get their code hash and test counts from the evidence', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  const old = await storeWithRun(t, file);
  await old.recordStageResult(result('r1', 'build', { code_hash: HASH }));
  await old.recordStageResult(result('r1', 'test', { report: { passed: 5, failed: 0, skipped: 1 }, pass_rate: 1 }));
  // step the file back to schema 3, as an older upshift left it
  old.db.exec("DROP TABLE run_facts; DELETE FROM schema_migrations WHERE version = 4;");
  old.close();
  const store = Store.open(file, () => 2_000);
  t.teardown(() => store.close());
  t.same(await store.runFacts('r1'), { codeHash: HASH, test: { passed: 5, failed: 0, skipped: 1, passRate: 1 }, benchmark: null });
});
