// The `channel` section (README "NATS fleet channel"): gossip by default, so every existing
// config loads unchanged; NATS with servers and one kind of credentials.
import t from 'tap';
import { validateConfig } from '../../src/core/config.js';
import { isUpshiftError } from '../../src/core/errors.js';

const base = { fleet: 'edge', node: { id: 'web-1' }, trust: { keys: [{ public: 'ab'.repeat(32) }] } };
const refused = (channel: unknown): string => {
  try {
    validateConfig({ ...base, channel });
  } catch (err) {
    if (isUpshiftError(err, 'E_CONFIG')) return err.message;
    throw err;
  }
  return 'accepted';
};

t.test('gossip is the default', async (t) => {
  t.same(validateConfig(base).channel, { kind: 'gossip' });
  t.same(validateConfig({ ...base, channel: { kind: 'gossip' } }).channel, { kind: 'gossip' });
});

t.test('nats: servers, credentials, tls, a frame cap', async (t) => {
  const c = validateConfig({ ...base, channel: { kind: 'nats', servers: ['nats://10.0.0.1:4222', 'tls://n2.example:4222'], user: 'web-1', password_file: 'keys/nats.pass', tls: { ca_file: 'ca.pem' } } }).channel;
  t.same(c, { kind: 'nats', servers: ['nats://10.0.0.1:4222', 'tls://n2.example:4222'], user: 'web-1', password_file: 'keys/nats.pass', tls: { ca_file: 'ca.pem' }, max_frame_bytes: 65536 });
  t.equal(validateConfig({ ...base, channel: { kind: 'nats', servers: ['nats://a:1'], creds_file: 'k.creds' } }).channel.kind, 'nats');
});

t.test('bad channel sections are refused with E_CONFIG', async (t) => {
  t.match(refused({ kind: 'nats', servers: [] }), /servers/);
  t.match(refused({ kind: 'nats', servers: ['http://a:1'] }), /nats:\/\/host:port/);
  t.match(refused({ kind: 'nats', servers: ['nats://a:1'], creds_file: 'x', user: 'u', password_file: 'p' }), /not both/);
  t.match(refused({ kind: 'nats', servers: ['nats://a:1'], user: 'u' }), /go together/);
  t.match(refused({ kind: 'kafka' }), /channel/);
  t.match(refused({ kind: 'nats', servers: ['nats://a:1'], extra: 1 }), /extra/);
});
