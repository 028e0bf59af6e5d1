// A TCP proxy on a loopback port in front of a server the lab must not stop (the machine's
// shared PostgreSQL). stop() closes the listener and destroys every open connection: to the
// applications behind it the server is unreachable, as in a network partition or a crashed
// host, while the server itself runs on for everyone else. start() listens on the same port.
import net from 'node:net';

export interface ProxyTarget {
  host: string;
  port: number;
}

export class TcpProxy {
  readonly name: string;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    name: string,
    readonly port: number,
    private readonly target: ProxyTarget,
  ) {
    this.name = name;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => this.pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Cuts the connection: no new connections, and every open one is destroyed. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private pipe(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      // Either side failing or closing ends the pair, as a dropped connection would.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
