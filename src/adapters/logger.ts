// One root pino logger; modules take `log.child({ module })`. JSON lines to stderr by
// default so stdout stays for command output (journald captures both under systemd).
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.UPSHIFT_LOG_LEVEL ?? 'info';
  return pino({ level, base: { app: 'upshift' }, timestamp: pino.stdTimeFunctions.isoTime }, opts.destination ?? pino.destination({ fd: 2, sync: true }));
}
