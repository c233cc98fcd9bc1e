// Node labels (region, zone, ...): they travel in certificates, join requests and heartbeats,
// are set in upshift.yaml and are matched by canary selection, so one schema bounds them
// everywhere: few, short, printable.
import { z } from 'zod';

export const LABEL_LIMITS = {
  count: 32,
  key: 63,
  value: 256,
} as const;

/**
 * A record of at most `max` entries, counted before any entry is parsed, so a record of
 * 50,000 entries costs one Object.keys and is refused as `too_big`, not parsed entry by entry.
 */
export function boundedRecord<K extends z.core.$ZodRecordKey, V extends z.core.SomeType>(
  key: K, value: V, max: number, what: string,
) {
  const count = z.unknown().check((ctx) => {
    const v = ctx.value;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
    if (Object.keys(v).length > max) {
      const message = `at most ${max} ${what}`;
      ctx.issues.push({ code: 'too_big', origin: 'object', maximum: max, inclusive: true, input: v, message });
    }
  });
  return count.pipe(z.record(key, value));
}

const labelName = z
  .string()
  .max(LABEL_LIMITS.key)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/, 'label names are letters, digits, "_", ".", "/", "-" (max 63)');
const labelValue = z
  .string()
  .max(LABEL_LIMITS.value)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'label values have no control characters');

export const labelsSchema = boundedRecord(
  labelName,
  labelValue,
  LABEL_LIMITS.count,
  'labels',
).describe('labels such as region, used to spread canaries');
