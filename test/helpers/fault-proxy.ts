import { createServer, connect, type Server, type Socket } from 'node:net';

/** Closes with a TCP RST (a cut cable looks like this to the peer), or plainly if it cannot. */
function reset(s: Socket): void {
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

/** One direction of a proxied connection: data waits here until it is due (delay) and the link is up. */
interface Lane {
  from: Socket;
  to: Socket;
  queue: { at: number; data: Buffer }[];
  timer: NodeJS.Timeout | null;
  /** The sending side ended: end the receiving side once the queue is empty. */
  ended: boolean;
}

interface Link {
  client: Socket;
  upstream: Socket;
  up: Lane;
  down: Lane;
  /** Blackholed: everything is dropped and nothing, not even a close, ever reaches the other side. */
  dead: boolean;
}

/**
 * A loopback TCP proxy for the fault suite, between a runner and the gateway (TLS passes
 * through untouched, so certificate pinning still holds). It can:
 * - `delay(min, max)`: hold every piece of data a random time, keeping order;
 * - `stall()` / `heal()`: stop forwarding in both directions (connections stay open, data and
 *   closes wait), then deliver everything that waited;
 * - `cut()`: reset every open connection at once;
 * - `refuse(true)`: reset new connections as soon as they arrive (the network is down);
 * - `blackhole()`: silently drop the open connections forever — no byte and no close ever gets
 *   through, as when a NAT forgets a connection; only a heartbeat can notice.
 */
export class FaultProxy {
  private readonly links = new Set<Link>();
  private delayRange: [number, number] | null = null;
  private stalled = false;
  private refusing = false;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(private readonly server: Server, readonly port: number, private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((client) => proxy.accept(client));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy = new FaultProxy(server, (server.address() as { port: number }).port, targetPort);
    return proxy;
  }

  /** https://127.0.0.1:PORT of the proxy. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get open(): number {
    return [...this.links].filter((l) => !l.dead).length;
  }

  delay(min: number, max: number): void {
    this.delayRange = [min, max];
  }

  noDelay(): void {
    this.delayRange = null;
  }

  stall(): void {
    this.stalled = true;
  }

  heal(): void {
    this.stalled = false;
    this.refusing = false;
    for (const l of this.links) {
      this.pump(l, l.up);
      this.pump(l, l.down);
    }
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  cut(): void {
    for (const l of [...this.links]) this.drop(l, true);
  }

  blackhole(): void {
    for (const l of this.links) {
      l.dead = true;
      for (const lane of [l.up, l.down]) {
        lane.queue = [];
        if (lane.timer) clearTimeout(lane.timer);
      }
    }
  }

  async close(): Promise<void> {
    for (const l of [...this.links]) this.drop(l, true);
    await new Promise((r) => this.server.close(r));
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.refusing) {
      reset(client);
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    const lane = (from: Socket, to: Socket): Lane => ({ from, to, queue: [], timer: null, ended: false });
    const link: Link = { client, upstream, up: lane(client, upstream), down: lane(upstream, client), dead: false };
    this.links.add(link);
    for (const l of [link.up, link.down]) {
      l.from.on('data', (data: Buffer) => {
        if (link.dead) return;
        const [min, max] = this.delayRange ?? [0, 0];
        const at = Date.now() + min + Math.random() * (max - min);
        l.queue.push({ at: Math.max(at, l.queue.at(-1)?.at ?? 0), data });
        this.pump(link, l);
      });
      l.from.on('end', () => {
        l.ended = true;
        this.pump(link, l);
      });
      l.from.on('error', () => undefined);
      l.from.on('close', () => {
        l.ended = true;
        this.pump(link, l);
      });
    }
  }

  private pump(link: Link, lane: Lane): void {
    if (link.dead || this.stalled) return;
    if (lane.timer) {
      clearTimeout(lane.timer);
      lane.timer = null;
    }
    const now = Date.now();
    while (lane.queue.length > 0 && lane.queue[0]!.at <= now) {
      const { data } = lane.queue.shift()!;
      if (!lane.to.destroyed) lane.to.write(data);
    }
    if (lane.queue.length > 0) {
      lane.timer = setTimeout(() => this.pump(link, lane), lane.queue[0]!.at - now);
      return;
    }
    if (lane.ended) this.drop(link, false);
  }

  private drop(link: Link, hard: boolean): void {
    if (!this.links.delete(link)) return;
    for (const lane of [link.up, link.down]) if (lane.timer) clearTimeout(lane.timer);
    for (const s of [link.client, link.upstream]) {
      if (s.destroyed) continue;
      if (hard) reset(s);
      else s.end();
    }
  }
}
