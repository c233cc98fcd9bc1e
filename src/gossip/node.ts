// One gossip participant (SPEC "Gossip"). Every `interval` it pushes its digest and heartbeat to
// `fanout` peers; every `anti_entropy` it runs a push-pull sync with one peer. Whoever learns
// that a peer is ahead pulls the manifest from that peer and from no one else, offers it to the
// manifest store once per (track, hash), and advertises it at once if the store accepted it.
// Each push is answered with the receiver's digest, so a sender that is behind learns it too:
// every push is a small push-pull, which is what makes the last few nodes converge quickly.
// A peer is called at the address its certificate names; a certificate without one leaves the
// address the peer advertises, which the transport's URL policy must accept. A seed whose id we
// do not know gets an inert `hello` first, so every request that changes anything is addressed.
// No I/O and no wall clock here: the transport, auth, store, clock and rng are all injected.
import { UpshiftError, toUpshiftError } from '../core/errors.js';
import { Membership, type MemberView } from './membership.js';
import type { GossipNodeOptions, GossipStats, OfferResult, PeerAddress, SignedMessage } from './ports.js';
import { PullTracker } from './pulls.js';
import { RateLimiter } from './rate-limit.js';
import { ReplayGuard } from './replay.js';
import { acceptsUrl, Requests, type Answer } from './requests.js';
import { nonceFactory } from './rng.js';
import { parseMessage, REQUEST_KINDS, type Body, type Digest, type GossipMessage } from './types.js';

export class GossipNode<W = SignedMessage> {
  readonly membership: Membership;
  readonly stats: GossipStats = { pushes: 0, syncs: 0, pulls: 0, pullFailures: 0, manifestsServed: 0, offers: 0, accepted: 0, refused: 0, rejected: 0 };
  private readonly replay: ReplayGuard;
  private readonly limiter: RateLimiter;
  private readonly pulls = new PullTracker();
  private readonly nonce: () => string;
  private readonly requests: Requests<W>;

  constructor(private readonly o: GossipNodeOptions<W>) {
    this.membership = new Membership({
      self: o.id,
      suspectAfter: o.gossip.suspect_after,
      deadAfter: o.gossip.dead_after,
      ...(o.gossip.remove_after === undefined ? {} : { removeAfter: o.gossip.remove_after }),
      rng: o.rng,
      ...(o.maxMembers === undefined ? {} : { maxMembers: o.maxMembers }),
      ...(o.seeds === undefined ? {} : { seeds: o.seeds }),
      acceptUrl: (url: string) => acceptsUrl(o.transport, url),
    });
    const now = o.clock.now();
    for (const p of o.peers ?? []) this.membership.heard(p, now);
    const start = { since: o.startedAt ?? now, ...(o.replayFloors ? { floors: o.replayFloors } : {}) };
    this.replay = new ReplayGuard(o.gossip.replay_window, undefined, start);
    this.limiter = new RateLimiter(o.gossip.rate_limit_per_sec);
    this.nonce = o.nonce ?? nonceFactory(o.rng);
    this.requests = new Requests(o, this.membership, this.nonce);
  }

  get id(): string {
    return this.o.id;
  }

  members(): MemberView[] {
    return this.membership.view(this.o.clock.now());
  }

  /** Per sender, the newest message time accepted: save it at shutdown, pass it back as `replayFloors`. */
  replayFloors(): Record<string, number> {
    return this.replay.floors(this.o.clock.now());
  }

  /** Every `interval`; also call it right after the local store accepts a manifest, to advertise it at once. */
  tick(): Promise<void> {
    return this.advertise(null);
  }

  /** Every `anti_entropy`: push-pull with one peer, now and then a suspect, dead or seed one. */
  async antiEntropy(): Promise<void> {
    const now = this.o.clock.now();
    const peer = this.membership.pickProbe(now);
    if (!peer) return;
    this.stats.syncs++;
    const body = { kind: 'sync', url: this.o.url, digest: this.o.source.digest(), heartbeat: this.o.heartbeat(), members: this.membership.sample(this.o.syncSample ?? 16, now) } as const;
    const reply = await this.requests.send(peer, body, 'sync-reply');
    if (!reply) return;
    const from = { id: reply.from, url: reply.url };
    const at = this.o.clock.now();
    if (reply.body.heartbeat.node === reply.from) this.o.onHeartbeat?.(reply.body.heartbeat, at);
    this.membership.learn(reply.body.members, at);
    this.consider(from, reply.body.digest);
  }

  /**
   * An incoming request, as the transport received it: signature and certificate first, then
   * shape, replay window, rate limit, the sender's address. Throws UpshiftError (E_SIG_INVALID,
   * E_NOT_CERTIFIED, E_REVOKED, E_MALFORMED, E_REPLAY, E_RATE_LIMITED, E_PEER_URL); a pull it
   * triggers runs after it returns.
   */
  async receive(wire: W): Promise<W> {
    try {
      return this.handle(wire);
    } catch (err) {
      const e = toUpshiftError(err, 'E_MALFORMED');
      this.stats.rejected++;
      this.o.onEvent?.({ type: 'rejected', from: null, code: e.code, reason: e.message });
      throw e;
    }
  }

  private handle(wire: W): W {
    const now = this.o.clock.now();
    const { from, content, url: certUrl } = this.o.auth.verify(wire);
    const msg = parseMessage(content);
    if (msg.from !== from) throw new UpshiftError('E_MALFORMED', `message claims to be from ${msg.from} but is signed by ${from}`);
    if (!REQUEST_KINDS.has(msg.body.kind) || msg.re !== null) throw new UpshiftError('E_MALFORMED', `a ${msg.body.kind} answer was sent as a request`);
    // Only a hello may leave `to` open: replayed to another node, it changes nothing there.
    if (msg.to === null ? msg.body.kind !== 'hello' : msg.to !== this.o.id) {
      throw new UpshiftError('E_MALFORMED', `a ${msg.body.kind} addressed to ${msg.to ?? 'nobody'}, not ${this.o.id}`);
    }
    this.replay.check(from, msg.nonce, msg.at, now);
    this.limiter.take(from, now);
    const body = msg.body;
    switch (body.kind) {
      case 'hello':
        return this.answer(msg, { kind: 'ack', digest: this.o.source.digest() });
      case 'push':
      case 'sync': {
        if (body.heartbeat.node !== from) throw new UpshiftError('E_MALFORMED', `heartbeat of ${body.heartbeat.node} sent by ${from}`);
        // The certified address wins over the advertised one; either must pass our URL policy.
        const url = certUrl ?? body.url;
        this.o.transport.checkUrl?.(url);
        const peer = { id: from, url };
        this.membership.heard(peer, now);
        this.o.onHeartbeat?.(body.heartbeat, now);
        this.membership.learn(body.members, now);
        this.consider(peer, body.digest);
        if (body.kind === 'push') return this.answer(msg, { kind: 'ack', digest: this.o.source.digest() });
        return this.answer(msg, { kind: 'sync-reply', digest: this.o.source.digest(), heartbeat: this.o.heartbeat(), members: this.membership.sample(this.o.syncSample ?? 16, now) });
      }
      case 'pull': {
        const envelope = this.o.source.get(body.track, body.hash);
        if (envelope !== null) this.stats.manifestsServed++;
        return this.answer(msg, { kind: 'manifest', track: body.track, envelope });
      }
      default:
        throw new UpshiftError('E_MALFORMED', `unexpected ${body.kind}`);
    }
  }

  /** For each manifest `peer` holds that we want, pull it from that peer, once per (track, hash). */
  private consider(peer: PeerAddress & { id: string }, digest: Digest): void {
    const mine = this.o.source.digest();
    for (const track in digest) {
      const theirs = digest[track] as Digest[string];
      const entries = this.o.source.wants && theirs.also ? [theirs, ...theirs.also] : [theirs];
      for (const { seq, hash } of entries) {
        if (!this.wants(mine, track, seq, hash)) continue;
        if (this.pulls.want(track, hash, peer) !== 'start') continue;
        // Runs after the message that triggered it has been answered; it must never throw.
        this.pull(track, hash, peer).catch((err: unknown) => {
          this.pulls.settled(track, hash, null);
          this.o.onEvent?.({ type: 'pull-failed', track, hash, from: peer.id, reason: toUpshiftError(err).message });
        });
      }
    }
  }

  private wants(mine: Digest, track: string, seq: number, hash: string): boolean {
    if (this.o.source.wants) return this.o.source.wants(track, seq, hash);
    // Equal or lower seq is ignored: an equal seq with another hash is a conflict the store would refuse.
    const have = mine[track];
    return have === undefined || seq > have.seq;
  }

  private async pull(track: string, hash: string, first: PeerAddress): Promise<void> {
    let peer: PeerAddress | null = first;
    while (peer) {
      this.stats.pulls++;
      const res: Answer<'manifest'> | null = await this.requests.send(peer, { kind: 'pull', track, hash }, 'manifest');
      const envelope = res?.body.track === track ? res.body.envelope : null;
      // Only the bytes that were advertised are verified; anything else is a failed pull.
      if (envelope !== null && this.o.source.hash(envelope) === hash) return this.offer(track, hash, envelope, res?.from ?? '?');
      this.stats.pullFailures++;
      this.o.onEvent?.({ type: 'pull-failed', track, hash, from: peer.id ?? peer.url, reason: res === null ? 'no answer' : envelope === null ? 'peer has no manifest' : 'bytes do not match the advertised hash' });
      peer = this.pulls.failed(track, hash);
    }
  }

  private async offer(track: string, hash: string, envelope: string, from: string): Promise<void> {
    this.stats.offers++;
    let result: OfferResult | null = null;
    try {
      result = await this.o.source.offer(envelope);
    } catch (err) {
      // A store that failed has not decided: forget the pull so a later advertisement retries.
      this.o.onEvent?.({ type: 'pull-failed', track, hash, from, reason: `store: ${toUpshiftError(err).message}` });
    }
    this.pulls.settled(track, hash, result);
    if (result === 'refused') {
      this.stats.refused++;
      this.o.onEvent?.({ type: 'refused', track, hash, from });
    } else if (result === 'accepted') {
      this.stats.accepted++;
      this.o.onEvent?.({ type: 'accepted', track, seq: this.o.source.digest()[track]?.seq ?? -1, from });
      // Forward only what the store accepted, and at once: waiting for the next tick costs a round.
      await this.advertise(from);
    }
  }

  /**
   * A push to these addresses besides the random fanout (the agent's report to the authority,
   * so it hears every node's heartbeat however large the fleet). Own address skipped.
   */
  report(urls: readonly string[]): Promise<void> {
    const known = new Map(this.members().map((m) => [m.url, m.id]));
    const others = urls.filter((url) => url !== this.o.url);
    return this.pushTo(others.map((url) => ({ id: known.get(url) ?? this.requests.idAt(url), url })));
  }

  private advertise(exclude: string | null): Promise<void> {
    const now = this.o.clock.now();
    return this.pushTo(this.membership.pickFanout(this.o.gossip.fanout, now, exclude));
  }

  private async pushTo(peers: readonly PeerAddress[]): Promise<void> {
    const now = this.o.clock.now();
    if (peers.length === 0) return;
    const body = { kind: 'push', url: this.o.url, digest: this.o.source.digest(), heartbeat: this.o.heartbeat(), members: this.membership.sample(this.o.pushSample ?? 4, now) } as const;
    await Promise.all(
      peers.map(async (peer) => {
        this.stats.pushes++;
        const ack = await this.requests.send(peer, body, 'ack');
        if (ack) this.consider({ id: ack.from, url: ack.url }, ack.body.digest);
      }),
    );
  }

  private answer(request: GossipMessage, body: Body): W {
    return this.o.auth.sign({ from: this.o.id, to: request.from, at: this.o.clock.now(), nonce: this.nonce(), re: request.nonce, body });
  }
}
