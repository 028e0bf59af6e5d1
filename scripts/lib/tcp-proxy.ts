// A TCP proxy on a loopback port in front of a server that a test or the lab must not stop
// (the machine's shared Redis or PostgreSQL). stop() cuts it: the listener closes and every
// open connection is destroyed, so to the clients behind the proxy the server is unreachable,
// as in a network partition or a crashed host, while it runs on for everyone else. start()
// listens again on the same port. stall() silences the open connections without closing them.
// A subclass may watch each connection's bytes (connected()); test/e2e/sniffing-proxy.ts does.
import net from 'node:net';

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  /** 0 until the first start(), then the port it keeps. */
  port = 0;

  /** `target`: the server's URL (its port, or `defaultPort`); `url` keeps the rest of it. */
  constructor(
    private target: URL,
    private readonly defaultPort: number,
    readonly name = 'tcp-proxy',
  ) {}

  /** New connections go to `target` from now on (established ones stay where they are). */
  retarget(target: URL): void {
    this.target = target;
  }

  /** The target's URL with the proxy's address: credentials, database, parameters kept. */
  get url(): string {
    const url = new URL(this.target.href);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  /** Listens (again, on the same port); a no-op while listening. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const host = this.target.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
      const upstream = net.connect(Number(this.target.port || this.defaultPort), host);
      const pair = { client, upstream };
      this.pairs.add(pair);
      for (const socket of [client, upstream]) {
        // Small writes (an SSE event, a Redis reply) pass at once, as without the proxy.
        socket.setNoDelay(true);
        // Either side failing or closing ends the pair, as a dropped connection would.
        socket.on('error', () => {});
        socket.on('close', () => {
          this.pairs.delete(pair);
          client.destroy();
          upstream.destroy();
        });
      }
      this.connected(client, upstream);
      if (client.destroyed) return;
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /**
   * Each new connection, before its bytes flow: a subclass may listen to either socket's
   * `data` (a second reader of a piped stream sees every chunk) or destroy the client.
   */
  protected connected(_client: net.Socket, _upstream: net.Socket): void {}

  /** Every established connection dies; the listener stays open. */
  dropConnections(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  /** Cuts the server off: established connections die and new ones are refused. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropConnections();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * The established connections go silent without closing (a half-open socket, a dead NAT
   * entry): bytes are held back, not lost. Returns a function that lets them flow again.
   */
  stall(): () => void {
    const stalled = [...this.pairs];
    for (const { client, upstream } of stalled) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    return () => {
      for (const { client, upstream } of stalled) {
        client.pipe(upstream);
        upstream.pipe(client);
      }
    };
  }
}
