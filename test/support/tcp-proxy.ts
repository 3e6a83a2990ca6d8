// A TCP proxy in front of a real API server, for partitions. `cut()` makes it a black hole: nothing
// is refused or reset, bytes simply stop flowing both ways (reads paused, so the kernel's buffers
// fill and senders stall, as when a link drops packets); connections opened during the cut are
// accepted and left waiting. `heal()` lets everything through again, as TCP retransmission does
// once a link is back. That is the partition a firewall or a dead route makes — and the one no
// request notices by failing.
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

interface Link {
  readonly client: Socket;
  upstream: Socket | undefined;
}

export class TcpProxy {
  private readonly server: Server;
  private readonly links = new Set<Link>();
  private open = true;
  /** Connections accepted so far (a test can tell its client really went through the proxy). */
  accepted = 0;

  private readonly target: { host: string; port: number };

  private constructor(target: { host: string; port: number }) {
    this.target = target;
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to host:port. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  get isCut(): boolean {
    return !this.open;
  }

  cut(): void {
    this.open = false;
    for (const link of this.links) {
      link.client.pause();
      link.upstream?.pause();
    }
  }

  heal(): void {
    this.open = true;
    for (const link of this.links) {
      if (!link.upstream) this.dial(link);
      link.client.resume();
      link.upstream?.resume();
    }
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream?.destroy();
    }
    this.links.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    const link: Link = { client, upstream: undefined };
    this.links.add(link);
    client.on('error', () => undefined);
    client.on('close', () => {
      link.upstream?.destroy();
      this.links.delete(link);
    });
    if (this.open) this.dial(link);
    else client.pause();
  }

  private dial(link: Link): void {
    const upstream = connect(this.target.port, this.target.host);
    link.upstream = upstream;
    upstream.on('error', () => link.client.destroy());
    upstream.on('close', () => link.client.destroy());
    forward(link.client, upstream, () => this.open);
    forward(upstream, link.client, () => this.open);
  }
}

/** Copies `from` into `to` with backpressure; a stream paused by a cut stays paused until heal(). */
function forward(from: Socket, to: Socket, open: () => boolean): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => {
        if (open()) from.resume();
      });
    }
  });
  from.on('end', () => to.end());
}
