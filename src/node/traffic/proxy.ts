// The blue-green traffic switch (README "Blue-green"): a TCP proxy in the node daemon.
// Clients connect to app.blue_green.listen; each new connection is piped to the active
// slot's port on 127.0.0.1, read from <app.dir>/slots.json whenever that file changes (a
// stat per connection), so a flip made by any process (the daemon, `upshift ota check
// --apply`) takes effect at the next connection. Connections already open stay on the
// slot they were opened to until they close or that slot is stopped after its drain.
import { statSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import { readSlots, SLOTS_FILE, type SlotState } from '../apply/slots.js';

export interface ProxyLog {
  warn(obj: object, msg?: string): void;
}

export class SlotProxy {
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private seen = '';
  private state: SlotState | null = null;

  constructor(private readonly appDir: string, private readonly listen: string, private readonly log?: ProxyLog) {
    this.server = createServer((client) => this.forward(client));
  }

  /** Listen on `listen` (host:port; port 0 picks one, see port()); E_LISTEN naming the setting. */
  async start(): Promise<void> {
    const at = this.listen.lastIndexOf(':');
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(Number(this.listen.slice(at + 1)), this.listen.slice(0, at), () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code ?? 'unknown';
      throw new UpshiftError('E_LISTEN', `app.blue_green.listen: cannot listen on ${this.listen}: ${(err as Error).message}`, {
        cause: err, details: { listen: this.listen, errno },
      });
    }
  }

  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The port new connections go to now, or null when no slot serves yet. */
  target(): number | null {
    let mark: string;
    try {
      const st = statSync(join(this.appDir, SLOTS_FILE));
      mark = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      mark = 'none';
    }
    if (mark !== this.seen) {
      this.seen = mark; // a bad file is read (and reported) once, not at every connection
      try {
        this.state = mark === 'none' ? null : readSlots(this.appDir);
      } catch (err) {
        // keep the slot it served: a bad file must not take traffic away from a good one
        this.log?.warn({ module: 'proxy', err: (err as Error).message }, 'cannot read the slot state; still serving the last slot');
      }
    }
    return this.state?.active.port ?? null;
  }

  /** Stop listening and close every connection (the daemon is stopping). */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.open) s.destroy();
    await closed;
  }

  private forward(client: Socket): void {
    const port = this.target();
    if (port === null) {
      client.destroy();
      return;
    }
    const upstream = connect({ port, host: '127.0.0.1' });
    this.track(client);
    this.track(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.end());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private track(s: Socket): void {
    this.open.add(s);
    s.on('close', () => this.open.delete(s));
  }
}
