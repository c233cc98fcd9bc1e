// A simulated network with a virtual clock, for running the real gossip code at fleet scale in
// a test or benchmark. Deliveries sit in a priority queue ordered by virtual time; each hop
// takes a random whole number of milliseconds, each message (request or answer) is lost with
// probability `loss`, and `blocked(from, to, now)` models partitions. A lost or blocked
// request resolves to null after `timeoutMs`, as an HTTP client's timeout would.
import type { Clock } from '../../src/core/ports.js';
import type { PeerAddress, Transport } from '../../src/gossip/ports.js';
import { seededRng, type Rng } from '../../src/gossip/rng.js';

export class SimClock implements Clock {
  t = 0;
  constructor(private readonly net: { after(ms: number, fn: () => void): void }) {}
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.net.after(ms, resolve));
  }
}

/**
 * Events bucketed by whole virtual millisecond: O(1) to add and take, FIFO within an instant.
 * Virtual time only moves forward, so the scan for the next non-empty bucket is amortized
 * over the run (one step per virtual millisecond at most).
 */
class EventQueue {
  private readonly buckets = new Map<number, Array<() => void>>();
  private cursor = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }
  /** The earliest pending time (scans forward from the last one taken). */
  peekTime(): number {
    if (this.count === 0) return Infinity;
    while (!this.buckets.has(this.cursor)) this.cursor++;
    return this.cursor;
  }
  push(t: number, fn: () => void): void {
    const at = Math.max(Math.ceil(t), this.cursor);
    const bucket = this.buckets.get(at);
    if (bucket) bucket.push(fn);
    else this.buckets.set(at, [fn]);
    this.count++;
  }
  /** Takes every event of the earliest instant, including ones those events add at that instant. */
  drainEarliest(): void {
    const t = this.peekTime();
    const bucket = this.buckets.get(t) as Array<() => void>;
    for (let i = 0; i < bucket.length; i++) {
      this.count--;
      (bucket[i] as () => void)();
    }
    this.buckets.delete(t);
  }
}

export interface SimNetworkOptions {
  seed: number;
  /** Per-hop latency range in ms, inclusive (default 5–50). */
  latency?: { min: number; max: number };
  /** Probability that any one message is lost. */
  loss: number;
  /** When a requester gives up on a lost message (default 250 ms). */
  timeoutMs?: number;
  /** Partitions: true when `from` cannot reach `to` at `now` (indices as registered). */
  blocked?: (from: number, to: number, now: number) => boolean;
}

export class SimNetwork<W> {
  readonly clock: SimClock;
  /** Messages put on the wire: requests plus answers, lost ones included. */
  messages = 0;
  private readonly queue = new EventQueue();
  private readonly handlers: Array<(wire: W) => Promise<W>> = [];
  private readonly byUrl = new Map<string, number>();
  private readonly rng: Rng;
  private readonly minLat: number;
  private readonly spanLat: number;
  private readonly timeout: number;

  constructor(private readonly opts: SimNetworkOptions) {
    this.clock = new SimClock(this);
    this.rng = seededRng(opts.seed ^ 0x5eed);
    this.minLat = opts.latency?.min ?? 5;
    this.spanLat = (opts.latency?.max ?? 50) - this.minLat + 1;
    this.timeout = opts.timeoutMs ?? 250;
  }

  at(t: number, fn: () => void): void {
    this.queue.push(Math.max(t, this.clock.t), fn);
  }
  after(ms: number, fn: () => void): void {
    this.queue.push(this.clock.t + ms, fn);
  }

  /** Registers a node's request handler under its URL; returns its index. */
  register(url: string, handler: (wire: W) => Promise<W>): number {
    const i = this.handlers.length;
    this.handlers.push(handler);
    this.byUrl.set(url, i);
    return i;
  }

  indexOf(url: string): number | undefined {
    return this.byUrl.get(url);
  }

  /** Whether a single message from → to would be dropped now (partition or random loss). */
  dropped(from: number, to: number): boolean {
    return (this.opts.blocked?.(from, to, this.clock.t) ?? false) || this.rng() < this.opts.loss;
  }

  latency(): number {
    return this.minLat + Math.floor(this.rng() * this.spanLat);
  }

  transport(from: number): Transport<W> {
    return { send: (to: PeerAddress, wire: W) => this.send(from, to.url, wire) };
  }

  private send(from: number, url: string, wire: W): Promise<W | null> {
    this.messages++;
    const sentAt = this.clock.t;
    return new Promise((resolve) => {
      const giveUp = () => this.at(sentAt + this.timeout, () => resolve(null));
      const to = this.byUrl.get(url);
      if (to === undefined || this.dropped(from, to)) return giveUp();
      this.after(this.latency(), () => {
        (this.handlers[to] as (wire: W) => Promise<W>)(wire).then(
          (answer) => {
            this.messages++;
            if (this.dropped(to, from)) giveUp();
            else this.after(this.latency(), () => resolve(answer));
          },
          // A refusal is an error status: it arrives, and the requester treats it as no answer.
          () => this.after(this.latency(), () => resolve(null)),
        );
      });
    });
  }

  /**
   * Runs events in time order until `done()` or `untilMs`. After all events of one instant, it
   * yields a macrotask so the promise continuations they started run before time moves on:
   * the protocol code sees the clock it would see in real life.
   */
  async run(done: () => boolean, untilMs: number): Promise<void> {
    while (this.queue.size > 0 && !done()) {
      const t = this.queue.peekTime();
      if (t > untilMs) break;
      this.clock.t = t;
      this.queue.drainEarliest();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.clock.t < untilMs && this.queue.size === 0) this.clock.t = untilMs;
  }
}
