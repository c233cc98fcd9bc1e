// The leader's command queue on a real PostgreSQL server (migration 5): a caller that gave up
// waiting withdraws only a command no leader claimed, and a leader never takes one withdrawn.
import t from 'tap';
import { migrate } from '../../../src/adapters/postgres/migrate.js';
import { PG_MIGRATIONS } from '../../../src/adapters/postgres/migrations.js';
import {
  claimCommand, enqueueCommand, getCommand, pendingCommands, withdrawCommand,
} from '../../../src/adapters/postgres/replicas.js';
import { queueCommand, queuedAnswer } from '../../../src/services/command-queue.js';
import { postgresAvailable, startPostgres } from '../../helpers/postgres.js';

if (!postgresAvailable()) t.plan(0, 'PostgreSQL is not installed (.ci/run installs it)');

const db = await startPostgres(t);
const admin = await db.client();
t.teardown(() => admin.end());
await migrate(admin, PG_MIGRATIONS);

const cmd = { kind: 'pause' as const, target: 'testnet', reason: 'hold', by: 'cli:op', acceptedBy: 'cli:op@host' };

t.test('a withdrawn command is never claimed; a claimed one cannot be withdrawn', async (t) => {
  const a = await enqueueCommand(admin, 'f1', { ...cmd, args: { flags: { max_parallel: '1' } } });
  t.same((await getCommand(admin, a))?.args, { flags: { max_parallel: '1' } }, 'its arguments kept');
  t.equal(await withdrawCommand(admin, a, 'cli:op@host', { code: 'E_LEADER_TIMEOUT', message: 'gone' }), true);
  t.equal(await claimCommand(admin, a, 7), false, 'the leader does not take it');
  t.same((await pendingCommands(admin, 'f1')).map((c) => c.id), [], 'nor sees it pending');
  const b = await enqueueCommand(admin, 'f1', cmd);
  t.equal(await claimCommand(admin, b, 7), true);
  t.equal(await withdrawCommand(admin, b, 'cli:op@host', { code: 'E_LEADER_TIMEOUT', message: 'gone' }), false, 'claimed: stays');
  const seen = await getCommand(admin, b);
  t.equal(seen?.claimedEpoch, 7);
  t.equal(seen?.doneAt, null, 'still to be finished by a leader (this one, or the next)');
  t.same((await pendingCommands(admin, 'f1')).map((c) => c.id), [b]);
});

t.test('queueCommand with nobody leading withdraws and answers E_LEADER_TIMEOUT', async (t) => {
  const c = await queueCommand(admin, 'f2', 'cli:op@host', { kind: 'resume', target: 'testnet', reason: 'go', by: 'cli:op' }, 300,
    { withdraw: true });
  t.equal(c.outcome, 'failed');
  t.equal(c.doneEpoch, null);
  const { error } = queuedAnswer(c, null);
  t.equal(error?.code, 'E_LEADER_TIMEOUT');
  t.match(error?.message, /withdrawn and nothing changed; `upshift authority status`/);
  // without withdraw (a follower daemon's tool door), it stays queued for the next leader
  const q = await queueCommand(admin, 'f2', 'auth-2', { kind: 'rollback', target: 'r1', reason: 'x', by: 'agent' }, 0);
  t.equal(q.doneAt, null);
  t.match(queuedAnswer(q, null).reason, /queued as command #\d+; the next leader carries it out/);
});
