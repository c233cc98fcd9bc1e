// One root pino logger; modules take `log.child({ module })`. JSON lines to stderr by
// default so stdout stays for command output (journald captures both under systemd).
// pino is loaded with the first logger, not with this module: `upshift status`, `fleet ls`
// and `--version` import it through shared code and never log.
import { createRequire } from 'node:module';
import type { Logger, DestinationStream } from 'pino';

export type { Logger };

const require = createRequire(import.meta.url);

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const { pino } = require('pino') as typeof import('pino');
  const level = opts.level ?? process.env.UPSHIFT_LOG_LEVEL ?? 'info';
  return pino({ level, base: { app: 'upshift' }, timestamp: pino.stdTimeFunctions.isoTime }, opts.destination ?? pino.destination({ fd: 2, sync: true }));
}
