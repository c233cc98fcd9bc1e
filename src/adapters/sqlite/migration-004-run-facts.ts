// Migration 4: typed facts one stage hands to later ones (the code hash BUILD took, the
// test counts, the benchmark summary), apart from the evidence kept for people. Runs
// recorded before it get their code hash and test counts back from that evidence; their
// benchmark summary stays empty (it only feeds a manifest's display evidence).
export const MIGRATION_004_RUN_FACTS = {
  version: 4,
  name: 'run-facts',
  sql: `
CREATE TABLE run_facts (
  run_id TEXT PRIMARY KEY REFERENCES runs(id),
  code_hash TEXT CHECK (code_hash IS NULL OR length(code_hash) = 64),
  test_passed INTEGER,
  test_failed INTEGER,
  test_skipped INTEGER,
  test_pass_rate REAL,
  -- JSON: { baseline_version, metrics: { "suite.metric": { value, better, baseline, change, worse } } }
  benchmark TEXT,
  CHECK ((test_passed IS NULL) = (test_pass_rate IS NULL))
);
INSERT INTO run_facts (run_id, code_hash)
  SELECT run_id, json_extract(evidence, '$.code_hash') FROM stage_results
  WHERE stage = 'build' AND outcome = 'passed' AND json_type(evidence, '$.code_hash') = 'text';
INSERT INTO run_facts (run_id) SELECT run_id FROM stage_results WHERE stage = 'test'
  ON CONFLICT(run_id) DO NOTHING;
UPDATE run_facts SET
  test_passed = (SELECT json_extract(s.evidence, '$.report.passed') FROM stage_results s WHERE s.run_id = run_facts.run_id AND s.stage = 'test'),
  test_failed = (SELECT json_extract(s.evidence, '$.report.failed') FROM stage_results s WHERE s.run_id = run_facts.run_id AND s.stage = 'test'),
  test_skipped = (SELECT json_extract(s.evidence, '$.report.skipped') FROM stage_results s WHERE s.run_id = run_facts.run_id AND s.stage = 'test'),
  test_pass_rate = (SELECT json_extract(s.evidence, '$.pass_rate') FROM stage_results s WHERE s.run_id = run_facts.run_id AND s.stage = 'test')
  WHERE EXISTS (SELECT 1 FROM stage_results s WHERE s.run_id = run_facts.run_id AND s.stage = 'test'
    AND json_type(s.evidence, '$.report.passed') = 'integer' AND json_type(s.evidence, '$.pass_rate') IN ('real', 'integer'));
`,
};
