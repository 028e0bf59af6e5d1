// The denylist sync's subscriber on a Redis Cluster. Classic PUBLISH reaches every node of a
// cluster (the cluster bus forwards it), so one connection to any node hears every write.
// ioredis' Cluster subscribes that way too, but when its node goes away it moves to another
// one silently, and the writes published in between would be missed for good. This
// subscriber is one plain connection at a time instead: its 'close' and 'ready' are the
// sync's cue to reload in full (redis-sync.ts), exactly as with one server or Sentinel.
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { defaultRetryStrategy } from './redis-connection.js';

export interface NodeAddress {
  host: string;
  port: number;
}

export class ClusterNodeSubscriber extends EventEmitter {
  private current: Redis | undefined;
  private attempt = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param nodes the nodes to try, asked before each connection (the cluster connection's
   *   current view, or the seed nodes while it has none).
   * @param options per-connection settings (credentials, TLS, timeouts); the host, the port
   *   and the retry strategy are this class's.
   */
  constructor(
    private readonly nodes: () => NodeAddress[],
    private readonly options: RedisOptions,
  ) {
    super();
    this.connect();
  }

  get status(): string {
    return this.current?.status ?? 'reconnecting';
  }

  subscribe(channel: string): Promise<unknown> {
    return this.current ? this.current.subscribe(channel) : Promise.reject(new Error('no subscriber connection'));
  }

  ping(): Promise<unknown> {
    return this.current ? this.current.ping() : Promise.reject(new Error('no subscriber connection'));
  }

  async quit(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const current = this.current;
    this.current = undefined;
    if (!current) return;
    if (current.status === 'ready') await current.quit().catch(() => current.disconnect());
    else current.disconnect();
  }

  /** One connection to the next node in turn; when it ends (never retried in place), the next node after a pause. */
  private connect(): void {
    if (this.closed) return;
    const nodes = this.nodes();
    const node = nodes[(this.attempt + Math.floor(Math.random() * nodes.length)) % nodes.length]!;
    const connection = new Redis({ ...this.options, host: node.host, port: node.port, retryStrategy: () => null, lazyConnect: false });
    this.current = connection;
    connection.on('error', () => {});
    connection.on('message', (channel: string, message: string) => this.emit('message', channel, message));
    connection.on('ready', () => {
      this.attempt = 0;
      this.emit('ready');
    });
    connection.on('close', () => this.emit('close'));
    connection.once('end', () => {
      if (this.current !== connection || this.closed) return;
      this.timer = setTimeout(() => this.connect(), defaultRetryStrategy(++this.attempt));
      this.timer.unref();
    });
  }
}
