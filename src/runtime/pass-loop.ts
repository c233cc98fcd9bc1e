// A pass repeated on a timer (the deployment driver, the leader's command executor): one
// pass at a time, a call during a pass joins it, `stop` waits for the pass in flight, and a
// pass that throws is reported and tried again at the next tick, never the daemon's end.
export class PassLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly everyMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** True before start and after stop: a pass in flight checks it to end early. */
  get stopped(): boolean {
    return this.timer === null;
  }

  start(opts: { now?: boolean } = {}): void {
    this.timer = setInterval(() => void this.tick().catch(this.onError), this.everyMs);
    this.timer.unref();
    if (opts.now) void this.tick().catch(this.onError);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; overlapping calls join the pass in progress. */
  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }
}
