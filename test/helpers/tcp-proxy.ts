// A TCP proxy on loopback that a test can cut like a network partition: while cut, nothing
// passes either way and nothing is closed (no RST, no FIN: the peers just hear nothing, as
// when packets are dropped), and new connections hang. heal() delivers what was held back,
// closes included, in order, and lets traffic flow again.
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

interface Teardownable {
  teardown(fn: () => void | Promise<void>): void;
}

export interface TcpProxy {
  port: number;
  /** Drop the link: hold everything back, both ways, new connections included. */
  cut(): void;
  /** Restore the link: deliver what was held back, then flow. */
  heal(): void;
  readonly isCut: boolean;
}

type Held = Array<Buffer | 'end'>;

export async function tcpProxy(t: Teardownable, target: { host: string; port: number }): Promise<TcpProxy> {
  let cut = false;
  const flushes = new Set<() => void>();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    pipeHeld(client, upstream);
    pipeHeld(upstream, client);
  });
  // one direction: forward, or hold while cut; an end is held like data, an error becomes an end
  function pipeHeld(from: Socket, to: Socket): void {
    const held: Held = [];
    const deliver = (x: Buffer | 'end') => {
      if (to.destroyed) return;
      if (x === 'end') to.end();
      else to.write(x);
    };
    const push = (x: Buffer | 'end') => {
      if (cut) held.push(x);
      else deliver(x);
    };
    from.on('data', (d: Buffer) => push(d));
    from.on('end', () => push('end'));
    from.on('error', () => push('end'));
    from.on('close', () => push('end'));
    flushes.add(() => {
      for (const x of held.splice(0)) deliver(x);
    });
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      cut = true;
    },
    heal() {
      cut = false;
      for (const f of flushes) f();
    },
    get isCut() {
      return cut;
    },
  };
}
