// Push rounds on an idle node. SPEC's push every `interval` is what spreads news; once
// nothing changes, each round only repeats the last, and on a quiet fleet that repetition
// (a signed request and a signed answer per peer, every second) was most of a daemon's CPU.
// So while this node's digest and heartbeat stay as they were, the rounds thin out: after
// each idle push the gap doubles, up to `maxRounds` intervals. Anything new resets it: a
// manifest held or accepted, a changed heartbeat. What idle rounds no longer carry comes
// by other paths that keep their cadence: anti-entropy every `anti_entropy`, the report to
// the authority every `report_every`, and the push a node makes at once when it accepts a
// manifest (gossip/node.ts offer()).
export class IdleBackoff {
  private last: string | null = null;
  /** Rounds to let pass before the next push, and rounds passed since the last one. */
  private gap = 1;
  private waited = 0;

  constructor(private readonly maxRounds: number) {}

  /** Called once per interval with what this node would say; true when it should push now. */
  shouldPush(state: string): boolean {
    if (state !== this.last) {
      this.last = state;
      this.gap = 1;
      this.waited = 0;
      return true;
    }
    this.waited++;
    if (this.waited < this.gap) return false;
    this.waited = 0;
    this.gap = Math.min(this.gap * 2, this.maxRounds);
    return true;
  }
}
