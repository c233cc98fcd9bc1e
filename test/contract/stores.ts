// The store contract runs against both adapters: SQLite in a temp dir and PostgreSQL on a
// real server started for the test file. `eachStore` runs one subtest per adapter with a
// fresh, empty store and a clock the test controls.
import type { Test } from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { tempDir } from '../helpers/tmp.js';

export interface ContractClock { now(): number; set(ms: number): void; advance(ms: number): void }

export interface AdapterUnderTest {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty store on this adapter; closed by the test's teardown. */
  open(t: Test, clock: ContractClock): Promise<StateStore>;
}

export function testClock(start = 1_700_000_000_000): ContractClock {
  let at = start;
  return { now: () => at, set: (ms) => { at = ms; }, advance: (ms) => { at += ms; } };
}

export const sqliteAdapter: AdapterUnderTest = {
  name: 'sqlite',
  async open(t, clock) {
    const store = Store.open(join(tempDir(t, 'upshift-contract-'), 'upshift.db'), () => clock.now());
    t.teardown(() => store.close());
    return store;
  },
};

const adapters: AdapterUnderTest[] = [sqliteAdapter];

/** Adds an adapter (the PostgreSQL one registers itself from its module). */
export function registerAdapter(a: AdapterUnderTest): void {
  adapters.push(a);
}

/** One subtest per adapter, each with its own empty store and clock. */
export async function eachStore(t: Test, name: string, fn: (t: Test, store: StateStore, clock: ContractClock) => Promise<void>): Promise<void> {
  for (const a of adapters) {
    await t.test(`${name} [${a.name}]`, async (t) => {
      const clock = testClock();
      await fn(t, await a.open(t, clock), clock);
    });
  }
}
