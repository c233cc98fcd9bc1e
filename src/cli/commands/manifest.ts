// `upshift manifest sign|verify|export|import`: sign a release manifest payload canonically, and
// check a signed one the way a node would (exact bytes first, then strict parse, then freshness,
// fleet, track and floor); import puts a published envelope the store lost back (services/manifests.ts).
import { Option, type Command } from 'commander';
import { UpshiftError } from '../../core/errors.js';
import type { Config } from '../../core/config.js';
import { checkManifestAcceptable } from '../../core/decisions/acceptance.js';
import { decodeManifest, type ManifestPayload } from '../../core/manifest.js';
import { fromBase64 } from '../../trust/bytes.js';
import { serializeEnvelope } from '../../trust/envelope.js';
import { loadKeyset, type Keyset } from '../../trust/keyset.js';
import { signManifest, verifyManifest } from '../../trust/verify-manifest.js';
import type { ManifestRecord } from '../../core/records.js';
import { findManifest, importManifest } from '../../services/manifests.js';
import { action, printJson, say, type Session } from '../shared.js';
import { loadSigners } from '../../trust/keyfile.js';
import { parseIntArg, readInput, uniqueSigners, writeNewFile } from '../io.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface VerifyOptions {
  json?: boolean;
  fleet?: string;
  track?: string;
  floor?: string;
  now?: string;
  pubkey?: string[];
  threshold?: string;
}

export function registerManifest(program: Command, session: Session): void {
  const manifest = program.command('manifest').description('sign and verify release manifests');

  manifest
    .command('sign')
    .description('sign a manifest payload (JSON in any formatting) and print the envelope')
    .argument('<file>', 'manifest payload JSON (- for stdin)')
    .requiredOption('--key <keyfile>', 'private key file to sign with (repeatable)', collect)
    .option('--out <file>', 'write the envelope here instead of stdout (never overwrites)')
    .option('--json', 'print a JSON summary (with the envelope) instead of the bare envelope')
    .action(
      action(session, async (file: string, opts: { key: string[]; out?: string; json?: boolean }) => {
        const draft = parsePayloadJson(await readInput(file), file);
        const signers = uniqueSigners(await loadSigners(opts.key));
        // encodeManifest inside signManifest schema-checks the draft (E_MANIFEST_SCHEMA).
        const envelope = signManifest(draft as ManifestPayload, signers);
        const payload = decodeManifest(fromBase64(envelope.payload) as Uint8Array);
        const text = `${serializeEnvelope(envelope)}\n`;
        if (opts.out) await writeNewFile(opts.out, text);
        const keyids = signers.map((s) => s.keyid);
        if (opts.json) printJson({ ok: true, ...(opts.out ? { out: opts.out } : {}), manifest: payload, keyids, envelope });
        else if (opts.out) say(`signed ${payload.track}#${payload.seq} (${payload.version}) with ${keyids.join(', ')} → ${opts.out}`);
        else process.stdout.write(text);
      }),
    );

  manifest
    .command('export')
    .description('write a manifest this authority signed: a run\'s newest (or --purpose), or TRACK#SEQ')
    .argument('<what>', 'run id or TRACK#SEQ (e.g. testnet#4)')
    .addOption(new Option('--purpose <purpose>', "which of the run's manifests").choices(['release', 'canary', 'deploy', 'rollback']))
    .option('--out <file>', 'write the envelope here instead of stdout (never overwrites)')
    .option('--json', 'print a JSON summary (with the envelope) instead of the bare envelope')
    .action(
      action(session, async (what: string, opts: { purpose?: ManifestRecord['purpose']; out?: string; json?: boolean }) => {
        const r = await findManifest({ store: session.store() }, what, opts.purpose);
        const text = `${r.evidence.envelope}\n`;
        if (opts.out) await writeNewFile(opts.out, text);
        if (opts.json) printJson({ ok: true, reason: r.reason, ...(opts.out ? { out: opts.out } : {}), ...r.evidence });
        else if (opts.out) say(`wrote ${r.reason} → ${opts.out}`);
        else process.stdout.write(text);
      }),
    );

  manifest
    .command('import')
    .description("store a published manifest envelope the authority's store lacks (the E_SEQ_REGRESSION repair)")
    .argument('<file>', 'signed manifest envelope, as `manifest export` writes it (- for stdin)')
    .option('--json', 'print JSON')
    .action(
      action(session, async (file: string, opts: { json?: boolean }) => {
        const r = await importManifest(session.context(), await readInput(file));
        if (opts.json) printJson({ ok: true, reason: r.reason, ...r.evidence });
        else say(`imported ${r.reason}`);
      }),
    );

  manifest
    .command('verify')
    .description("verify a signed manifest with the config's trusted keys (or --pubkey) and check it is acceptable")
    .argument('<file>', 'signed manifest envelope (- for stdin)')
    .option('--json', 'print JSON')
    .option('--fleet <name>', "refuse a manifest for any other fleet (default: the config's fleet)")
    .option('--track <name>', "refuse a manifest for any other track (default: any track of the config's)")
    .option('--floor <seq>', 'refuse a manifest below this sequence number (the track floor)')
    .option('--now <iso>', 'check expiry and clock skew at this time instead of now')
    .option('--pubkey <hex>', 'trust this public key instead of the config (repeatable); the config is not read', collect)
    .option('--threshold <n>', 'distinct --pubkey keys that must sign (default 1)')
    .action(
      action(session, async (file: string, opts: VerifyOptions) => {
        const keyset = verifyingKeyset(session, opts);
        const config = opts.pubkey ? null : session.config().config;
        const floor = opts.floor === undefined ? null : parseIntArg(opts.floor, '--floor', 0);
        const now = opts.now === undefined ? Date.now() : parseTime(opts.now);
        const { payload, envelope } = verifyManifest(await readInput(file), keyset);
        // Expiry, validity and clock skew are always checked: no node would act on such a manifest.
        // With the config's keys, its fleet is this manifest's fleet too, unless --fleet says otherwise.
        const fleet = opts.fleet ?? config?.fleet ?? payload.fleet;
        const ctx = { now, limits: keyset.limits, fleet, track: opts.track, floorSeq: floor };
        const acceptance = checkManifestAcceptable(payload, ctx);
        if (config && opts.track === undefined) checkKnownTrack(payload, config);
        // verifyEnvelope fails on any bad signature by a trusted key, so these all verified.
        const keyids = [...new Set(envelope.signatures.map((s) => s.keyid).filter((id) => keyset.keys.has(id)))];
        const ignored = envelope.signatures.map((s) => s.keyid).filter((id) => !keyset.keys.has(id));
        if (opts.json) {
          printJson({ ok: true, manifest: payload, keyids, ignored_keyids: ignored, threshold: keyset.threshold, acceptance, checked_at: new Date(now).toISOString() });
        } else {
          say(describe(payload, keyids, ignored, keyset.threshold, acceptance, floor));
        }
      }),
    );
}

function verifyingKeyset(session: Session, opts: VerifyOptions): Keyset {
  if (!opts.pubkey) {
    if (opts.threshold !== undefined) throw new UpshiftError('E_USAGE', '--threshold applies to --pubkey keys; the config sets its own trust.threshold');
    return loadKeyset(session.config().config.trust);
  }
  const threshold = opts.threshold === undefined ? 1 : parseIntArg(opts.threshold, '--threshold', 1);
  return loadKeyset({ keys: opts.pubkey.map((hex) => ({ public: hex })), threshold });
}

/** A manifest for a track this config neither follows (node.tracks) nor publishes (authority.tracks). */
function checkKnownTrack(p: ManifestPayload, config: Config): void {
  const tracks = [...new Set([...config.node.tracks, ...Object.keys(config.authority?.tracks ?? {})])];
  if (tracks.includes(p.track)) return;
  const message = `manifest is for track "${p.track}", which this config has no part in (${tracks.join(', ')})`;
  throw new UpshiftError('E_WRONG_TRACK', message, { details: { manifest_track: p.track, tracks } });
}

function parseTime(text: string): number {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw new UpshiftError('E_USAGE', `--now expects an ISO-8601 time like 2025-01-31T12:00:00Z, got "${text}"`);
  return ms;
}

function describe(p: ManifestPayload, keyids: string[], ignored: string[], threshold: number, acceptance: 'newer' | 'same', floor: number | null): string {
  const targets = p.targets === 'all' ? 'all nodes' : `${p.targets.join(', ')} (${p.targets.length})`;
  const floorNote = floor === null ? 'no floor given' : acceptance === 'newer' ? `newer than floor ${floor}` : `equal to floor ${floor} (a re-delivery)`;
  const lines = [
    `verified ${p.track}#${p.seq} (${p.kind}) for fleet ${p.fleet}`,
    `  version    ${p.version}`,
    `  commit     ${p.commit}`,
    `  code_hash  ${p.code_hash}`,
    `  targets    ${targets}`,
    `  created    ${p.created_at}`,
    `  expires    ${p.expires_at}`,
    `  signed by  ${keyids.join(', ')} (threshold ${threshold})${ignored.length ? `; ignored untrusted ${ignored.join(', ')}` : ''}`,
    `  floor      ${floorNote}`,
  ];
  if (p.bundle) lines.push(`  bundle     ${p.bundle.url} (${p.bundle.length} bytes, sha256 ${p.bundle.sha256})`);
  return lines.join('\n');
}

/**
 * Parse a hand-written payload: any formatting, but no duplicate keys, since JSON.parse
 * would keep the last one silently and the signer would sign a value they never saw.
 */
function parsePayloadJson(bytes: Uint8Array, source: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new UpshiftError('E_MANIFEST_PARSE', `${source} is not valid UTF-8`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UpshiftError('E_MANIFEST_PARSE', `${source} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const dup = duplicateKey(text);
  if (dup !== null) throw new UpshiftError('E_MANIFEST_PARSE', `${source} has the key ${JSON.stringify(dup)} twice in one object`, { details: { key: dup } });
  return value;
}

/** The first key repeated within one object of already valid JSON text, or null. */
function duplicateKey(text: string): string | null {
  const stack: Array<Set<string> | null> = []; // a key set per object, null per array
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') stack.push(new Set());
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      let next = end + 1;
      while (' \t\r\n'.includes(text[next] ?? '.')) next++;
      const keys = stack[stack.length - 1];
      // In valid JSON only a key is followed by ':'; compare unescaped, as JSON.parse does.
      if (keys && text[next] === ':') {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
      i = end;
    }
  }
  return null;
}
