// One replica for the failover bench: campaign, say `lead <epoch>` once leading, then write
// fenced every 20 ms; say `fenced` and exit 3 once a write is refused (deposed).
import { Leadership } from '../../src/adapters/postgres/leader.js';
import { isUpshiftError } from '../../src/core/errors.js';

const [target, replica, stall] = process.argv.slice(2);
const leader = await Leadership.campaign({ target: JSON.parse(target as string), fleet: 'bench', replica: replica as string, stallTimeoutMs: Number(stall) });
process.stdout.write(`lead ${leader.epoch}\n`);
for (;;) {
  try {
    await leader.fenced((q) => q.query('UPDATE bench_counter SET n = n + 1'));
  } catch (err) {
    if (isUpshiftError(err, 'E_FENCED')) {
      process.stdout.write('fenced\n');
      process.exit(3);
    }
    throw err;
  }
  await new Promise((r) => setTimeout(r, 20));
}
