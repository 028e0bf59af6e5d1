// A small revocation feed that follows Tessera's wire contract (GET /revocations/stream:
// HTTP Basic with form-encoded credentials, `retry:` first, a snapshot without or with a
// too-old cursor, one `revocation` event per entry after a valid one, `: keep-alive`
// comments), over real HTTP, so the verifier's feed client is tested without the server.
// It can refuse, stall and drop connections on demand.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type WireEntry =
  | { kind: 'session'; sid: string; expires_at: number }
  | { kind: 'token'; jti: string; expires_at: number }
  | { kind: 'user'; sub: string; not_before: number; expires_at: number };

export interface FeedRequest {
  lastEventId: string | undefined;
  authorization: string | undefined;
  answered: 'stream' | 'snapshot' | number;
}

export class FakeFeed {
  readonly clientId = 'svc id';
  readonly clientSecret = 's3cr:t+%';
  /** Cursor n is entry n-1 of the log; cursors below `oldest` are too old (trimmed). */
  private readonly log: WireEntry[] = [];
  oldest = 0;
  readonly requests: FeedRequest[] = [];
  /** Answer new requests with this status instead of a stream (e.g. 503 while "down"). */
  refuseWith: number | undefined;
  /** Established streams stop sending anything (a half-open connection). */
  stalled = false;
  heartbeatMs = 1_000;
  retryMs = 50;
  private readonly streams = new Set<http.ServerResponse>();
  private server!: http.Server;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/revocations/stream`;
    return this;
  }

  /** The cursor of the newest entry ('0' for an empty log). */
  get head(): string {
    return String(this.log.length);
  }

  revoke(entry: WireEntry): string {
    this.log.push(entry);
    const cursor = this.head;
    if (!this.stalled) for (const res of this.streams) res.write(`event: revocation\nid: ${cursor}\ndata: ${JSON.stringify(entry)}\n\n`);
    return cursor;
  }

  /** Cuts every established stream (as a replica restart or a network failure would). */
  drop(): void {
    for (const res of this.streams) res.socket?.destroy();
    this.streams.clear();
  }

  async close(): Promise<void> {
    this.drop();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorized(header: string | undefined): boolean {
    if (!header?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(header.slice(6), 'base64').toString();
    const colon = decoded.indexOf(':');
    const form = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return colon > 0 && form(decoded.slice(0, colon)) === this.clientId && form(decoded.slice(colon + 1)) === this.clientSecret;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const lastEventId = (req.headers['last-event-id'] as string | undefined) ?? url.searchParams.get('after') ?? undefined;
    const record: FeedRequest = { lastEventId, authorization: req.headers.authorization, answered: 0 };
    this.requests.push(record);
    if (url.pathname !== '/revocations/stream') return void res.writeHead((record.answered = 404)).end();
    if (!this.authorized(req.headers.authorization)) {
      record.answered = 401;
      res.writeHead(401, { 'content-type': 'application/problem+json', 'www-authenticate': 'Basic realm="tessera"' });
      return void res.end(JSON.stringify({ status: 401, code: 'invalid_client' }));
    }
    if (this.refuseWith !== undefined) return void res.writeHead((record.answered = this.refuseWith)).end();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write(`retry: ${this.retryMs}\n\n`);
    const after = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
    if (after === undefined || after < this.oldest || after > this.log.length) {
      record.answered = 'snapshot';
      const live = this.log.slice(this.oldest).filter((e) => e.expires_at * 1000 > Date.now());
      res.write(`event: snapshot\nid: ${this.head}\ndata: ${JSON.stringify({ entries: live })}\n\n`);
    } else {
      record.answered = 'stream';
      this.log.slice(after).forEach((entry, i) => res.write(`event: revocation\nid: ${after + i + 1}\ndata: ${JSON.stringify(entry)}\n\n`));
    }
    this.streams.add(res);
    const beat = setInterval(() => {
      if (!this.stalled) res.write(': keep-alive\n\n');
    }, this.heartbeatMs);
    res.on('close', () => {
      clearInterval(beat);
      this.streams.delete(res);
    });
  }
}
