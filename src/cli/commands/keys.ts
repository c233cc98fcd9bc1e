// `upshift keys gen|rotate|verify-rotation`: create private key files and move the fleet
// to a new trusted keyset.
import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { toHex } from '../../trust/bytes.js';
import { parseEnvelope, serializeEnvelope } from '../../trust/envelope.js';
import { generateKeyFile, loadSigners } from '../../trust/keyfile.js';
import { parseIntArg, readInput, uniqueSigners, writeNewFile } from '../io.js';
import { loadKeyset } from '../../trust/keyset.js';
import { keysetDocument, signRotation, verifyRotation } from '../../trust/rotation.js';
import { escapeControl } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerKeys(program: Command, session: Session): void {
  const keys = program.command('keys').description('create signing keys and rotate the trusted keyset');

  keys
    .command('gen')
    .description('create a new Ed25519 private key file (mode 0600; never overwrites)')
    .requiredOption('--out <file>', 'where to write the key file')
    .option('--json', 'print JSON')
    .action(
      action(session, async (opts: { out: string; json?: boolean }) => {
        await mkdir(dirname(opts.out), { recursive: true, mode: 0o700 });
        const { keyid, publicKey } = await generateKeyFile(opts.out);
        if (opts.json) printJson({ ok: true, path: opts.out, keyid, public: toHex(publicKey) });
        else say(`wrote ${opts.out}\nkeyid:  ${keyid}\npublic: ${toHex(publicKey)}`);
      }),
    );

  keys
    .command('rotate')
    .description('sign a new keyset with the current keys and the new ones; prints the rotation envelope')
    .requiredOption('--new <file>', 'key file of a key in the new keyset (repeatable)', collect)
    .requiredOption('--sign-with <file>', 'key file of a currently trusted key (repeatable)', collect)
    // Not --version: commander gives that to the root program wherever it appears.
    .requiredOption('--keyset-version <n>', 'version of the new keyset (greater than the current one)')
    .option('--threshold <n>', 'distinct keys of the new keyset that must sign', '1')
    .option('--out <file>', 'write the envelope here instead of stdout (never overwrites)')
    .action(
      action(session, async (opts: { new: string[]; signWith: string[]; keysetVersion: string; threshold: string; out?: string }) => {
        const version = parseIntArg(opts.keysetVersion, '--keyset-version', 1);
        const threshold = parseIntArg(opts.threshold, '--threshold', 1);
        const fresh = await loadSigners(opts.new);
        const old = await loadSigners(opts.signWith);
        const keyset = loadKeyset({ keys: fresh.map((s) => ({ public: toHex(s.publicKey) })), threshold });
        // The old threshold stops a stolen new key installing itself; the new one proves the new keys work.
        const envelope = signRotation(keysetDocument(keyset, version), uniqueSigners([...old, ...fresh]));
        const text = `${serializeEnvelope(envelope)}\n`;
        if (opts.out) {
          await writeNewFile(opts.out, text);
          const note = `wrote ${opts.out}: keyset v${version}, ${keyset.keys.size} key(s), threshold ${threshold}`;
          process.stderr.write(`${escapeControl(note)}\n`);
        } else {
          process.stdout.write(text);
        }
      }),
    );

  keys
    .command('verify-rotation')
    .description("verify a rotation envelope against the config's trusted keyset and print the new keyset")
    .argument('<file>', 'rotation envelope (- for stdin)')
    .requiredOption('--current-version <n>', 'version of the keyset in force now (the first keyset is 1)')
    .option('--json', 'print JSON')
    .action(
      action(session, async (file: string, opts: { currentVersion: string; json?: boolean }) => {
        const current = parseIntArg(opts.currentVersion, '--current-version', 0);
        const keyset = loadKeyset(session.config().config.trust);
        const rotated = verifyRotation(parseEnvelope(await readInput(file)), keyset, current);
        const { keys: list, threshold, version } = rotated.document;
        if (opts.json) return void printJson({ ok: true, version, keyset: { keys: list, threshold } });
        say(`rotation to keyset v${version} verifies (signed by the current threshold and the new one)`);
        say('new trust section for upshift.yaml:\ntrust:\n  keys:');
        for (const k of list) say(`    - public: ${k.public}\n      keyid: ${k.keyid}`);
        say(`  threshold: ${threshold}`);
      }),
    );
}
