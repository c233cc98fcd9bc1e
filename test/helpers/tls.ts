// A self-signed TLS certificate made by the real openssl, as an operator would (README).
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCert {
  cert: string;
  key: string;
  /** `sha256:HEX`, from `openssl x509 -fingerprint -sha256`: an independent check of ours. */
  fingerprint: string;
}

export function makeTlsCert(dir: string, name = 'tls'): TestCert {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', key, '-out', cert, '-subj', '/CN=upshift-test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  chmodSync(key, 0o600);
  const out = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  const hex = (/Fingerprint=([0-9A-F:]+)/.exec(out)?.[1] ?? '').replace(/:/g, '').toLowerCase();
  return { cert, key, fingerprint: `sha256:${hex}` };
}
