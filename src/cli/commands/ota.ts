// `upshift ota check [--apply] [--track T] [--json]` and `upshift ota publish [--out DIR]`.
// Exit codes: 0 up to date, available or updated; 1 failed; 3 refused by a gate
// (verification, approval); 2 usage or config. Without --track every followed track is
// checked, and the worst outcome decides the exit code. --json prints one document; a progress bar
// goes to stderr only when it is a terminal and --json is off.
import type { Command } from 'commander';
import { exitCodeOf } from '../../ota/check.js';
import { otaCheckTracks, otaPublish } from '../../services/ota.js';
import { action, printJson, say, type Session } from '../shared.js';

export function registerOta(program: Command, session: Session): void {
  const ota = program.command('ota').description('the pull path: check the release feed and apply; publish the feed');

  ota.command('check').description('look for a newer release in the feed (ota.feed); with --apply, install it')
    .option('--apply', 'download, verify, ask approval and apply the release')
    .option('--track <track>', 'the track (default: every track this node follows, one after the other)')
    .option('--json', 'print one JSON document')
    .action(action(session, async (opts: { apply?: boolean; track?: string; json?: boolean }) => {
      const bar = !opts.json && process.stderr.isTTY ? progressBar() : null;
      const outs = await otaCheckTracks(session.context(process.stderr.isTTY ? 'warn' : 'info'), {
        apply: Boolean(opts.apply), ...(opts.track ? { track: opts.track } : {}), ...(bar ? { onProgress: bar.update } : {}),
      });
      bar?.end();
      // a refusal outranks a failure, which outranks success
      const codes = outs.map(exitCodeOf);
      const exit = codes.includes(3) ? 3 : codes.includes(1) ? 1 : 0;
      if (opts.json) {
        // one track (the usual node): its outcome; several: all of them in one document
        printJson(outs.length === 1 ? outs[0] : { ok: exit === 0, checks: outs });
      } else {
        for (const out of outs) {
          say(`${out.track}: ${out.outcome}${out.release ? ` (${out.release.tag})` : ''}`);
          say(out.error ? `${out.error.code}: ${out.reason}` : out.reason);
        }
      }
      return exit;
    }));

  ota.command('publish').description('write the feed, manifests and bundles of every track (authority)')
    .option('--out <dir>', 'where (default ota.publish.dir)')
    .option('--base-url <url>', 'absolute asset URLs under this (default ota.publish.base_url; else relative)')
    .option('--json', 'print JSON')
    .action(action(session, async (opts: { out?: string; baseUrl?: string; json?: boolean }) => {
      const r = await otaPublish(session.context(), { ...(opts.out ? { dir: opts.out } : {}), ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}) });
      if (opts.json) return void printJson({ ok: true, reason: r.reason, tracks: r.evidence });
      say(r.reason);
      for (const t of r.evidence) {
        say(`${t.track}: ${t.releases.map((x) => `${x.tag}${x.added ? ' (new)' : ''}`).join(', ') || '(none)'}`);
        for (const s of t.skipped) say(`  not published: #${s.seq} ${s.version}: ${s.reason}`);
      }
    }));
}

/** `[#####.....]  45%  1.2/2.6 MB` on one line of stderr, redrawn at most every 100 ms. */
function progressBar(): { update: (got: number, total: number) => void; end: () => void } {
  let last = 0;
  let drawn = false;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return {
    update(got, total) {
      const now = Date.now();
      if (now - last < 100 && got < total) return;
      last = now;
      const filled = Math.round((got / total) * 30);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${String(Math.floor((got / total) * 100)).padStart(3)}%  ${mb(got)}/${mb(total)} MB`);
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}
