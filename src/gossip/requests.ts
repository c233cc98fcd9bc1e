// The asking side of a gossip node: every request is signed, addressed to the node we mean,
// and its answer counts only if that node signed it, it is well formed and bound to our
// nonce. A seed URL whose node id we do not know yet is greeted with an inert hello first,
// so nothing that changes state ever travels unaddressed (replayed elsewhere, it is refused).
// An answering peer is called from then on where its certificate says, if our policy allows.
import { toUpshiftError } from '../core/errors.js';
import type { Membership } from './membership.js';
import type { GossipNodeOptions, PeerAddress, Transport } from './ports.js';
import { parseMessage, type Body, type BodyKind, type BodyOf } from './types.js';

/** An authenticated answer; `url` is where to call its sender from now on. */
export type Answer<K extends BodyKind> = { from: string; url: string; body: BodyOf<K> };

/** Seed URLs whose node id a hello told us; a handful, from config. */
const MAX_INTRODUCED = 1024;

/** Whether the transport's URL policy accepts `url` (a transport without one accepts all). */
export function acceptsUrl(transport: Pick<Transport<unknown>, 'checkUrl'>, url: string): boolean {
  try {
    transport.checkUrl?.(url);
    return true;
  } catch {
    return false;
  }
}

export class Requests<W> {
  private readonly introduced = new Map<string, string>();

  constructor(
    private readonly o: GossipNodeOptions<W>,
    private readonly membership: Membership,
    private readonly nonce: () => string,
  ) {}

  /** The node id a hello found at this URL, if any. */
  idAt(url: string): string | null {
    return this.introduced.get(url) ?? null;
  }

  async send<K extends BodyKind>(peer: PeerAddress, body: Body, expect: K): Promise<Answer<K> | null> {
    if (peer.id !== null) return this.exchange(peer, body, expect);
    const cached = this.introduced.get(peer.url);
    const id = cached ?? (await this.introduce(peer.url));
    if (id === null) return null;
    const answer = await this.exchange({ id, url: peer.url }, body, expect);
    // The node at a seed URL may have been replaced: ask again next time.
    if (!answer && cached !== undefined) this.introduced.delete(peer.url);
    return answer;
  }

  private async introduce(url: string): Promise<string | null> {
    const ack = await this.exchange({ id: null, url }, { kind: 'hello' }, 'ack');
    if (!ack || ack.from === this.o.id) return null;
    if (this.introduced.size >= MAX_INTRODUCED) this.introduced.clear();
    this.introduced.set(url, ack.from);
    return ack.from;
  }

  private async exchange<K extends BodyKind>(peer: PeerAddress, body: Body, expect: K): Promise<Answer<K> | null> {
    const nonce = this.nonce();
    const wire = this.o.auth.sign({ from: this.o.id, to: peer.id, at: this.o.clock.now(), nonce, re: null, body });
    let answer: W | null = null;
    try {
      answer = await this.o.transport.send(peer, wire);
    } catch {
      answer = null;
    }
    const now = this.o.clock.now();
    if (answer !== null) {
      try {
        const { from, content, url: certUrl } = this.o.auth.verify(answer);
        const msg = parseMessage(content);
        const bound = msg.from === from && msg.re === nonce && msg.to === this.o.id;
        if (bound && msg.body.kind === expect && (peer.id === null || peer.id === from)) {
          const url = certUrl ?? peer.url;
          this.o.transport.checkUrl?.(url);
          this.membership.heard({ id: from, url }, now);
          return { from, url, body: msg.body as BodyOf<K> };
        }
      } catch (err) {
        // A forged or garbled answer is no answer; a certified address we may not call is worth saying.
        const e = toUpshiftError(err, 'E_MALFORMED');
        if (e.code === 'E_PEER_URL') this.o.onEvent?.({ type: 'rejected', from: peer.id, code: e.code, reason: e.message });
      }
    }
    if (peer.id !== null) this.membership.failed(peer.id, now);
    return null;
  }
}
