import { UpshiftError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new UpshiftError('E_CANCELLED', 'cancelled'));
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new UpshiftError('E_CANCELLED', 'cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
