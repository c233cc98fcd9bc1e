// One ordered chain of writes. The pipeline machine transitions synchronously, but its
// store is async: each transition's write is queued here in order, and an effect starts
// only once every write queued before it committed (SPEC "kill -9": a state is on disk
// before anything it causes). A failed write poisons the chain: later writes never run
// and every wait rejects with that failure, so nothing happens after a state that could
// not be recorded.

/** What a stage actor waits on before its first effect. */
export interface PersistedWrites {
  /** Resolves once every write queued so far committed; rejects for good once one failed. */
  settled(): Promise<void>;
}

export class WriteChain implements PersistedWrites {
  private tail: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | null = null;

  /** `onFailure` hears of the first failed write, once (the driver stops on it). */
  constructor(private readonly onFailure: (error: unknown) => void = () => {}) {}

  /** Queue a write after every write queued before it; it never runs once one has failed. */
  enqueue(write: () => Promise<void>): void {
    this.tail = this.tail.then(async () => {
      if (this.failure) return;
      try {
        await write();
      } catch (error) {
        this.failure = { error };
        this.onFailure(error);
      }
    });
  }

  async settled(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure.error;
  }

  /** Whether a write failed (and the chain stopped). */
  get poisoned(): boolean {
    return this.failure !== null;
  }
}
