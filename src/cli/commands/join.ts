// `upshift join --authority URL --token T --trust sha256:...` on a fresh node writes its whole
// config (join-new.ts). Without --trust, on a node that has a config: give it a certificate. Loads or creates
// the node key, proves possession of it to the authority with a one-time token, and keeps
// the certificate (and a new key) only after verifying it against this node's own trust
// keyset and checking it names this node and this key. The token goes only over https
// (pinned with --authority-fingerprint, or CA-valid) or to loopback, unless --insecure.
// `--self` on the authority skips the network.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import { authorityTarget, writeAuthorityPin } from '../../node/authority-pin.js';
import { certifySelf, loadOrNewNodeKey, writeCertFile } from '../../node/identity.js';
import { loadSigners } from '../../trust/keyfile.js';
import type { NodeCert } from '../../trust/node-cert.js';
import { keysetOf } from '../../trust/keyset.js';
import { action, printJson, say, type Session } from '../shared.js';
import { joinNew } from './join-new.js';
import { requestCert } from '../../node/join-request.js';

interface JoinOptions {
  authority?: string; token?: string; authorityFingerprint?: string; insecure?: boolean; self?: boolean; json?: boolean;
  trust?: string; nodeId?: string; listen?: string; advertise?: string; tracks?: string; dir?: string; force?: boolean;
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

async function joinFresh(session: Session, opts: JoinOptions): Promise<void> {
  if (opts.self) throw new UpshiftError('E_USAGE', '--self and --trust do not go together');
  if (!opts.authority || !opts.token) {
    throw new UpshiftError('E_USAGE', 'join --trust needs --authority URL and --token T, as `upshift fleet token` prints them');
  }
  const r = await joinNew({
    authority: opts.authority, token: opts.token, trust: opts.trust as string, authorityFingerprint: opts.authorityFingerprint,
    insecure: opts.insecure, nodeId: opts.nodeId, listen: opts.listen, advertise: opts.advertise, tracks: opts.tracks, force: opts.force,
    configPath: opts.dir ? join(opts.dir, 'upshift.yaml') : session.configPath,
  });
  await session.keepConfigCache(r.config);
  if (opts.json) return void printJson({ ok: true, ...r });
  say(`node ${r.node_id} joined fleet ${r.fleet}: certificate #${r.serial}, valid until ${r.expires_at}`);
  for (const p of r.written) say(`wrote ${p}`);
  const cfg = r.config === resolve('upshift.yaml') ? '' : ` --config ${r.config}`;
  say(`next: fill in the app: section of ${r.config} (commented examples there), then run\n  upshift${cfg} daemon`);
}

export function registerJoin(program: Command, session: Session): void {
  program
    .command('join')
    .description("get this node's certificate from the authority with a one-time join token")
    .option('--authority <url>', "the authority's address, e.g. https://10.0.0.1:7400")
    .option('--token <token>', 'join token from `upshift fleet token` on the authority')
    .option('--authority-fingerprint <sha256:hex>', "pin the authority's TLS certificate (printed by `upshift fleet token`)")
    .option('--insecure', 'allow a plain http authority beyond loopback: the token crosses in clear text')
    .option('--trust <sha256:hex>', 'a fresh node: the fingerprint of the fleet\'s release keyset (printed by `upshift fleet token`); '
      + 'join then writes upshift.yaml, the node key and its certificate')
    .option('--node-id <id>', 'with --trust: this node\'s id (default: the hostname)')
    .option('--listen <host:port>', 'with --trust: gossip.listen (default 127.0.0.1:7400)')
    .option('--advertise <url>', 'with --trust: gossip.advertise, how peers call this node (default http://<listen>)')
    .option('--tracks <a,b>', 'with --trust: node.tracks (default: the authority node\'s tracks)')
    .option('--dir <dir>', 'with --trust: write <dir>/upshift.yaml (default: --config, else ./upshift.yaml)')
    .option('--force', 'with --trust: replace an existing upshift.yaml')
    .option('--self', 'on the authority: certify its own node key with the release keys')
    .option('--json', 'print JSON')
    .action(
      action(session, async (opts: JoinOptions) => {
        if (opts.trust !== undefined) return joinFresh(session, opts);
        const fresh = ['nodeId', 'listen', 'advertise', 'tracks', 'dir', 'force'].filter((k) => opts[k as keyof JoinOptions] !== undefined);
        if (fresh.length) throw new UpshiftError('E_USAGE', `--${fresh.map(kebab).join(', --')} go with --trust (a fresh node's join)`);
        if (!opts.self && !existsSync(session.configPath)) {
          throw new UpshiftError('E_USAGE', `${session.configPath} does not exist: a fresh node joins with the command \`upshift fleet token\` prints `
            + 'on the authority (it has --trust sha256:...)');
        }
        const { config } = session.config();
        let cert: NodeCert;
        let created: boolean;
        let pinPath: string | null = null;
        if (opts.self) {
          if (opts.authority || opts.token || opts.authorityFingerprint || opts.insecure) throw new UpshiftError('E_USAGE', '--self takes no --authority, --token, --authority-fingerprint or --insecure');
          if (!config.authority) throw new UpshiftError('E_CONFIG', '--self works only on the authority (a config with an `authority:` section)');
          const signers = await loadSigners(config.authority.signing_keys);
          ({ cert, created } = await certifySelf(config, { store: session.store(), signers, keyset: keysetOf(config), fleet: config.fleet, now: () => Date.now() }));
        } else {
          if (!opts.authority || !opts.token) throw new UpshiftError('E_USAGE', 'join needs --authority URL and --token T (or --self on the authority)');
          // refused before any key exists or any byte is sent; a refused join writes nothing
          const target = authorityTarget(opts.authority, { fingerprint: opts.authorityFingerprint, insecure: opts.insecure });
          const key = await loadOrNewNodeKey(config.node.key);
          created = key.created;
          const got = await requestCert(config, key.signer, { target, token: opts.token, now: () => Date.now() });
          await key.save();
          await writeCertFile(config.node.cert, got.envelope);
          pinPath = await writeAuthorityPin(config, target);
          cert = got.cert;
          await session.keepConfigCache();
        }
        const out = {
          ok: true, node_id: cert.node_id, fleet: cert.fleet, serial: cert.serial, labels: cert.labels, url: cert.url ?? null, public_key: cert.public_key,
          expires_at: cert.expires_at, cert_path: config.node.cert, key_path: config.node.key, key_created: created, authority_tls_path: pinPath,
        };
        if (opts.json) return void printJson(out);
        if (created) say(`created node key ${config.node.key}`);
        say(`node ${cert.node_id} joined fleet ${cert.fleet}: certificate #${cert.serial} for key ${cert.public_key.slice(0, 16)}…, valid until ${cert.expires_at}`);
        say(`wrote ${config.node.cert}`);
        if (pinPath) say(`wrote ${pinPath}: gossip to the authority checks its TLS certificate the same way`);
      }),
    );
}
