// Reading upshift.yaml: YAML (duplicate keys are an error), zod validation, then paths
// made absolute relative to the file, so the daemon behaves the same from any cwd.
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { validateConfig, type Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { LoadedConfig } from '../core/loaded-config.js';
import { readConfigText } from './config-cache.js';

export { defaultConfigPath } from './config-cache.js';
export type { LoadedConfig } from '../core/loaded-config.js';

const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^[^/]+@[^:]+:/.test(s);

export function loadConfig(path: string): LoadedConfig {
  const full = resolve(path);
  return parseConfig(full, readConfigText(full));
}

/** The config in `text`, read from the absolute path `full`. */
export function parseConfig(full: string, text: string): LoadedConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({ path: `line ${e.linePos?.[0]?.line ?? '?'}`, message: e.message.split('\n')[0] ?? e.message }));
    throw new UpshiftError('E_CONFIG', `${full} is not valid YAML:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`, { details: { problems } });
  }
  const config = validateConfig(doc.toJS(), full);
  checkPoll(config, full);
  const dir = dirname(full);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  if (config.authority) {
    config.authority.signing_keys = config.authority.signing_keys.map(abs);
    config.authority.sandbox.work_dir = abs(config.authority.sandbox.work_dir);
    if (!isUrl(config.authority.source)) config.authority.source = abs(config.authority.source);
    const st = config.authority.store;
    if (st.kind === 'postgres') {
      // a relative socket directory is relative to this file, as every other path here
      st.hosts = st.hosts.map((h) => (h.startsWith('.') ? abs(h) : h));
      if (st.password_file) st.password_file = abs(st.password_file);
      if (st.tls) {
        for (const k of ['ca_file', 'cert_file', 'key_file'] as const) {
          const v = st.tls[k];
          if (v) st.tls[k] = abs(v);
        }
      }
    }
  }
  config.node.key = abs(config.node.key);
  config.node.cert = abs(config.node.cert);
  if (config.http.tls) config.http.tls = { cert: abs(config.http.tls.cert), key: abs(config.http.tls.key) };
  if (config.http.read_token_file) config.http.read_token_file = abs(config.http.read_token_file);
  if (config.http.tools_token_file) config.http.tools_token_file = abs(config.http.tools_token_file);
  if (config.channel.kind === 'nats') {
    const c = config.channel;
    if (c.creds_file) c.creds_file = abs(c.creds_file);
    if (c.password_file) c.password_file = abs(c.password_file);
    if (c.tls) c.tls = Object.fromEntries(Object.entries(c.tls).map(([k, v]) => [k, abs(v)]));
  }
  if (config.app) {
    config.app.dir = abs(config.app.dir);
    if (!isUrl(config.app.remote)) config.app.remote = abs(config.app.remote);
  }
  const stateDir = abs(process.env.UPSHIFT_STATE_DIR ?? config.state_dir);
  config.state_dir = stateDir;
  config.ota.staging_dir = config.ota.staging_dir === null ? resolve(stateDir, 'ota') : abs(config.ota.staging_dir);
  if (config.ota.token_file !== null) config.ota.token_file = abs(config.ota.token_file);
  if (config.ota.publish.dir !== null) config.ota.publish.dir = abs(config.ota.publish.dir);
  if (config.ota.feed !== null && !isUrl(config.ota.feed)) config.ota.feed = abs(config.ota.feed);
  return { config, path: full, dir, stateDir };
}

/**
 * authority.poll is checked here, not in the pure schema (core stays free of node-cron), yet
 * before any command runs: a schedule that cannot start must fail `status` as it fails `daemon`.
 */
function checkPoll(config: Config, source: string): void {
  const poll = config.authority?.poll;
  if (poll === undefined) return;
  // loaded here, on the authority only: every CLI command reads the config
  const cron = createRequire(import.meta.url)('node-cron') as typeof import('node-cron');
  if (cron.validate(poll)) return;
  const problem = {
    path: 'authority.poll',
    message: `expected a cron expression (5 fields, or 6 with seconds first), got ${JSON.stringify(poll)}`,
  };
  const message = `${source} has 1 problem:\n  ${problem.path}: ${problem.message}`;
  throw new UpshiftError('E_CONFIG', message, { details: { problems: [problem] } });
}
