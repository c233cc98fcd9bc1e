import t from 'tap';
import { WriteChain } from '../../src/core/write-chain.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('writes run one at a time in the order they were queued, however long each takes', async (t) => {
  const done: string[] = [];
  const chain = new WriteChain();
  let inFlight = 0;
  const write = (name: string, turns: number) => async () => {
    inFlight++;
    t.equal(inFlight, 1, `${name} runs alone`);
    for (let i = 0; i < turns; i++) await tick();
    done.push(name);
    inFlight--;
  };
  chain.enqueue(write('idle', 3));
  chain.enqueue(write('building', 0));
  chain.enqueue(write('testing', 2));
  t.same(done, [], 'enqueue only queues: nothing is written yet');
  await chain.settled();
  t.same(done, ['idle', 'building', 'testing']);
  t.equal(chain.poisoned, false);
});

t.test('settled() ends only once every write queued before it committed', async (t) => {
  const chain = new WriteChain();
  const done: string[] = [];
  chain.enqueue(async () => { await tick(); await tick(); done.push('a'); });
  const waited = chain.settled().then(() => done.push('settled'));
  chain.enqueue(async () => { done.push('b'); });
  await waited;
  t.ok(done.indexOf('a') >= 0 && done.indexOf('a') < done.indexOf('settled'), 'the wait ends after the write queued before it');
  await chain.settled();
  t.same(done.filter((d) => d !== 'settled'), ['a', 'b'], 'and the later write still runs after it');
});

t.test('a failed write poisons the chain: later writes never run, every wait rejects, the driver hears once', async (t) => {
  const heard: unknown[] = [];
  const chain = new WriteChain((err) => heard.push(err));
  const ran: string[] = [];
  chain.enqueue(async () => { ran.push('idle'); });
  chain.enqueue(async () => { throw new Error('disk full'); });
  chain.enqueue(async () => { ran.push('building'); });
  await t.rejects(chain.settled(), /disk full/);
  chain.enqueue(async () => { ran.push('testing'); });
  await t.rejects(chain.settled(), /disk full/, 'still poisoned later');
  t.same(ran, ['idle'], 'nothing after the failed write ran');
  t.equal(heard.length, 1);
  t.match(heard[0], /disk full/);
  t.equal(chain.poisoned, true);
});

t.test('an effect that waits on the chain does not start when the write before it failed', async (t) => {
  const chain = new WriteChain();
  let effect = false;
  chain.enqueue(async () => { await tick(); throw new Error('SQLITE_IOERR'); });
  const stage = (async () => {
    await chain.settled();
    effect = true;
  })();
  await t.rejects(stage, /SQLITE_IOERR/);
  t.equal(effect, false);
});
