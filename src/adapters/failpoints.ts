// Crash points for the kill -9 tests: `UPSHIFT_FAILPOINTS=sign:signed,build:started`
// makes the process SIGKILL itself when it reaches one of them. Nothing else reads the
// variable; with it unset a failpoint is one Set lookup.
import type { Failpoint } from '../core/ports.js';

export function failpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Failpoint {
  const armed = new Set((env.UPSHIFT_FAILPOINTS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  if (armed.size === 0) return () => {};
  return (name) => {
    if (armed.has(name)) process.kill(process.pid, 'SIGKILL');
  };
}
