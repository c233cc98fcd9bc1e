// The state database of a state dir. Apart from deps.ts so that light commands (status,
// fleet ls) open the store without loading the pipeline's adapters.
import { join } from 'node:path';
import type { Clock } from '../core/ports.js';
import { systemClock } from '../adapters/clock.js';
import { Store } from '../adapters/sqlite/store.js';

export function openStore(stateDir: string, clock: Clock = systemClock): Store {
  return Store.open(join(stateDir, 'upshift.db'), () => clock.now());
}
