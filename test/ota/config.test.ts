// The ota section: every config without it still loads with the defaults; bad values are
// reported with their dot-paths, all at once.
import t from 'tap';
import { validateConfig } from '../../src/core/config.js';

const base = { fleet: 'edge', node: { id: 'n1' }, trust: { keys: [{ public: 'a'.repeat(64) }] } };

t.test('a config without an ota section gets the defaults', async (t) => {
  const c = validateConfig(base);
  t.match(c.ota, {
    feed: null, token_file: null, allow: [], approval: { url: null, timeout: 10_000 }, deadline: 1_800_000, min_rate: 1024,
    rate_window: 30_000, resume_attempts: 5, max_feed_bytes: 4 * 1024 * 1024, max_releases: 1000, staging_dir: null,
    publish: { dir: null, base_url: null },
  });
});

t.test('bad ota values name their dot-paths', async (t) => {
  t.throws(() => validateConfig({ ...base, ota: { approval: { url: 'ftp://x' }, min_rate: -1, deadline: 'soon', allow: ['not a url'], extra: 1 } }), {
    code: 'E_CONFIG',
    message: /ota\.approval\.url[\s\S]*ota\.deadline|ota\.deadline[\s\S]*ota\.approval\.url/,
    details: { problems: [{ path: String }, { path: String }, { path: String }, { path: String }, { path: String }] },
  });
});
