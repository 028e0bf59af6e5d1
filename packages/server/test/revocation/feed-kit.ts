// Test side of the revocation feed: an SSE reader over fetch that records every event and
// comment, and the Basic header of a feed client.
import { createParser } from 'eventsource-parser';

export const FEED_CLIENT = { id: 'billing', secret: 's3cret' };
export const INTROSPECT_ONLY = { id: 'reports', secret: 'r3ports' };
export const FEED_ONLY = { id: 'mirror', secret: 'm1rr:or' };
/** INTROSPECTION_CLIENTS for feed tests: both permissions, introspection only (the default), the feed only. */
export const FEED_CLIENTS_ENV = `${FEED_CLIENT.id}:${FEED_CLIENT.secret}:introspect+revoke+revocations,${INTROSPECT_ONLY.id}:${INTROSPECT_ONLY.secret},${FEED_ONLY.id}:${FEED_ONLY.secret}:revocations`;

export const basic = (client: { id: string; secret: string }) => ({
  authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}`,
});

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

export interface WireEntry {
  kind: 'session' | 'token' | 'user';
  sid?: string;
  jti?: string;
  sub?: string;
  not_before?: number;
  expires_at: number;
}

export class SseStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly fields: string[] = [];
  ended = false;
  private buffer = '';
  private waiters = new Set<() => void>();

  private constructor(
    readonly response: Response,
    private readonly abort: AbortController,
  ) {}

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const abort = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    const stream = new SseStream(response, abort);
    if (response.ok && response.body) void stream.consume(response.body);
    return stream;
  }

  private async consume(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = this.buffer.indexOf('\n\n')) >= 0) {
          this.parse(this.buffer.slice(0, cut));
          this.buffer = this.buffer.slice(cut + 2);
        }
        this.wake();
      }
    } catch {
      // Aborted by close().
    }
    this.ended = true;
    this.wake();
  }

  // eventsource-parser, not the verifier's own sse.ts: an independent reading of the stream.
  private readonly parser = createParser({
    onEvent: (e) => void this.events.push({ event: e.event ?? 'message', id: e.id, data: e.data }),
    onComment: (comment) => void this.comments.push(comment.trim()),
  });

  private parse(block: string): void {
    this.fields.push(...block.split('\n'));
    this.parser.feed(`${block}\n\n`);
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves when `condition` holds (checked after every chunk), or rejects after `timeoutMs`. */
  async until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** The entries of every revocation event so far. */
  revocations(): WireEntry[] {
    return this.events.filter((e) => e.event === 'revocation').map((e) => JSON.parse(e.data) as WireEntry);
  }

  snapshots(): { id: string | undefined; entries: WireEntry[] }[] {
    return this.events.filter((e) => e.event === 'snapshot').map((e) => ({ id: e.id, entries: (JSON.parse(e.data) as { entries: WireEntry[] }).entries }));
  }

  /** The id of the last event received: what a client sends back as Last-Event-ID. */
  lastId(): string | undefined {
    return this.events.at(-1)?.id;
  }

  close(): void {
    this.abort.abort();
  }
}
