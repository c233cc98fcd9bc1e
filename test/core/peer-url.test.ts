import t from 'tap';
import { validateConfig } from '../../src/core/config.js';
import { addressKey, forbiddenAddress, parseIp, PeerUrlPolicy } from '../../src/core/peer-url.js';

const trust = { keys: [{ public: 'a'.repeat(64) }] };

t.test('gossip calls only plain http(s) URLs on hosts that are not link-local, unspecified or metadata', async (t) => {
  const policy = new PeerUrlPolicy();
  for (const ok of ['http://10.0.0.5:7400', 'https://node-3.example.com', 'http://127.0.0.1:7400/', 'http://[::1]:7400', 'http://[2001:db8::5]:7400/gossip-prefix']) {
    t.doesNotThrow(() => policy.check(ok), ok);
  }
  const refused: Array<[string, RegExp]> = [
    ['file:///etc/passwd', /scheme file:/],
    ['gopher://10.0.0.5:70', /scheme gopher:/],
    ['http://admin:secret@10.0.0.5:7400', /user name or password/],
    ['http://10.0.0.5:7400/?x=1', /query or fragment/],
    ['http://10.0.0.5:7400/#top', /query or fragment/],
    ['http://169.254.169.254/latest/meta-data', /metadata/],
    ['http://169.254.10.10:7400', /link-local/],
    ['http://2852039166/', /link-local/], // 169.254.169.254 spelled as one decimal number
    ['http://0251.0376.0251.0376/', /link-local/], // and in octal
    ['http://[fe80::1]:7400', /link-local/],
    ['http://[::ffff:169.254.169.254]/', /link-local/],
    ['http://[64:ff9b::a9fe:a9fe]/', /link-local/], // NAT64 form of 169.254.169.254
    ['http://[fd00:ec2::254]/', /metadata/],
    ['http://100.100.100.200/', /metadata/],
    ['http://0.0.0.0:7400', /unspecified/],
    ['http://[::]:7400', /unspecified/],
    ['http://224.0.0.1:7400', /multicast/],
    ['http://metadata.google.internal/computeMetadata/v1/', /metadata host/],
    ['http://metadata.google.internal./', /metadata host/],
    ['not a url', /not a URL/],
    [`http://${'a'.repeat(300)}.example.com`, /longer than 256/],
  ];
  for (const [url, why] of refused) t.throws(() => policy.check(url), { code: 'E_PEER_URL', message: why }, url);
});

t.test('with gossip.allow set, only hosts it names or ranges it covers are called', async (t) => {
  const policy = new PeerUrlPolicy(['10.0.0.0/8', 'fd12::/16', 'auth.example.com', '*.fleet.example.com']);
  for (const ok of ['http://10.1.2.3:7400', 'http://[fd12::7]:7400', 'http://[::ffff:10.0.0.9]:7400', 'https://auth.example.com', 'http://web-3.fleet.example.com:7400']) {
    t.doesNotThrow(() => policy.check(ok), ok);
  }
  for (const no of ['http://192.168.1.5:7400', 'http://evil.example.com', 'http://fleet.example.com', 'http://auth.example.com.evil.net', 'http://127.0.0.1:7400']) {
    t.throws(() => policy.check(no), { code: 'E_PEER_URL', message: /not in gossip.allow/ }, no);
  }
  t.throws(() => new PeerUrlPolicy(['169.254.0.0/16']).check('http://169.254.1.1'), { code: 'E_PEER_URL', message: /link-local/ }, 'allow cannot open a forbidden range');
});

t.test('a bad gossip.allow entry is a config error naming it', async (t) => {
  t.throws(() => validateConfig({ fleet: 'f', node: { id: 'n' }, trust, gossip: { allow: ['10.0.0.0/33', 'ok.example.com', 'http://x'] } }), {
    code: 'E_CONFIG', message: /gossip\.allow\.0: .*10\.0\.0\.0\/33[\s\S]*gossip\.allow\.2/,
  });
  const config = validateConfig({ fleet: 'f', node: { id: 'n' }, trust });
  t.same(config.gossip.allow, [], 'empty by default: any host that is not forbidden');
  t.equal(config.gossip.max_request_bytes, 64 * 1024);
  t.equal(config.gossip.rate_limit_per_address, 100);
});

t.test('IP literals parse in every spelling the resolver and URL parser produce', async (t) => {
  t.same(parseIp('10.0.0.1'), { v: 4, bytes: Uint8Array.from([10, 0, 0, 1]) });
  t.same(Array.from(parseIp('::1')?.bytes ?? []), [...new Array(15).fill(0), 1]);
  t.same(Array.from(parseIp('[fe80::1%eth0]')?.bytes.subarray(0, 2) ?? []), [0xfe, 0x80]);
  t.same(Array.from(parseIp('::ffff:1.2.3.4')?.bytes.subarray(12) ?? []), [1, 2, 3, 4]);
  for (const bad of ['1.2.3', '256.0.0.1', '1::2::3', '1:2:3:4:5:6:7:8:9', 'example.com', '::ffff:1.2.3']) t.equal(parseIp(bad), null, bad);
  t.ok(forbiddenAddress('169.254.169.254'));
  t.ok(forbiddenAddress('::ffff:a9fe:a9fe'));
  t.equal(forbiddenAddress('10.0.0.1'), null);
});

t.test('rate limits count an IPv6 host by its /64 and a mapped IPv4 address as IPv4', async (t) => {
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:bbbb::9'));
  t.not(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
  t.equal(addressKey('::ffff:127.0.0.1'), '127.0.0.1');
});
