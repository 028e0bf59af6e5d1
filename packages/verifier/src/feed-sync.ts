// Keeps a DenylistMirror in step with Tessera's revocation feed (`GET /revocations/stream`,
// Server-Sent Events behind HTTP Basic client credentials). The alternative to Redis for
// services that cannot, or should not, reach Tessera's Redis: only node built-ins and the
// global fetch, no runtime dependency.
//
// Wire contract (see the server's openapi.yaml): a `snapshot` event carries every live entry
// (the mirror is replaced by it), each `revocation` event one entry; every event has an
// `id`, the cursor a reconnect sends back as `Last-Event-ID` to receive only what it missed.
// Times on the wire are epoch seconds; the mirror keeps milliseconds.
import { describeCause } from './causes.js';
import type { DenylistEntry, DenylistMirror } from './denylist-mirror.js';
import { parseFeedEntry } from './revocation-model.js';
import { SseParser, type SseEvent } from './sse.js';

export { parseFeedEntry, type FeedEntry } from './revocation-model.js';
import { firstLoad } from './first-load.js';

export type FeedSyncStatus = 'ok' | 'degraded';

/** What the sync applied: persist `cursor` (with the mirror's content) to resume after a restart. */
export type FeedEvent =
  | { type: 'snapshot'; cursor: string; entries: DenylistEntry[] }
  | { type: 'revocation'; cursor: string; entry: DenylistEntry };

export interface FeedSyncOptions {
  /** The stream's URL, e.g. `https://auth.example.com/revocations/stream`. */
  feedUrl: string;
  /** A client of Tessera's INTROSPECTION_CLIENTS holding the `revocations` permission. */
  clientId: string;
  clientSecret: string;
  /** The mirror to fill; the caller answers `isRevoked` from it. */
  mirror: DenylistMirror;
  /**
   * Resume point: the cursor of the last event the mirror already holds. Only pass it with a
   * mirror that has that content (restored from disk, say); default: start from a snapshot.
   */
  lastEventId?: string;
  /** No byte (event or `: keep-alive`) for this long means a dead connection: reconnect. Default 45000 (3 server heartbeats). */
  heartbeatTimeoutMs?: number;
  /** Longest wait between reconnection attempts. Default 30000. */
  maxRetryMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Milliseconds since the epoch; used to drop expired entries. Default `Date.now`. */
  now?: () => number;
  /** Called whenever `status()` changes. */
  onChange?: (status: FeedSyncStatus) => void;
  /** Every failure: refused credentials, unreachable feed, a stream that ended or went silent. */
  onError?: (error: Error) => void;
  /** After each event was applied to the mirror. */
  onEvent?: (event: FeedEvent) => void;
}

export interface FeedSync {
  /** Resolves once the mirror is loaded (first snapshot, or first answer of a resumed stream); rejects only if closed first. */
  ready: Promise<void>;
  /** `'degraded'` while the stream is not connected and caught up: revocations may be missing from the mirror. */
  status(): FeedSyncStatus;
  /** The cursor of the last applied event (what a reconnect sends as `Last-Event-ID`). */
  cursor(): string | undefined;
  /** Stops the stream. The mirror keeps its content. */
  close(): Promise<void>;
}

const PRUNE_INTERVAL_MS = 60_000;
const DEFAULT_HEARTBEAT_TIMEOUT_MS = 45_000;
const DEFAULT_MAX_RETRY_MS = 30_000;
/** Until the server's `retry:` says otherwise (Tessera sends 1000). */
const DEFAULT_RETRY_MS = 1_000;
const MIN_RETRY_MS = 100;

/** An error the feed answered (or a broken stream), with the HTTP status when there was one. */
export class FeedError extends Error {
  constructor(message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FeedError';
  }
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined for HTTP Basic. */
export function basicCredentials(clientId: string, clientSecret: string): string {
  const form = (value: string) => new URLSearchParams([['', value]]).toString().slice(1);
  return `Basic ${Buffer.from(`${form(clientId)}:${form(clientSecret)}`).toString('base64')}`;
}

function refusal(status: number): FeedError {
  if (status === 401) return new FeedError('the revocation feed refused the client credentials (401): check clientId and clientSecret', status);
  if (status === 403) return new FeedError('the revocation feed client lacks the "revocations" permission (403): add it in INTROSPECTION_CLIENTS', status);
  return new FeedError(`the revocation feed answered HTTP ${status}`, status);
}

/**
 * Follows Tessera's revocation feed into `mirror`: a snapshot replaces the mirror, each
 * revocation is applied as it comes. After a dropped connection it reconnects (the server's
 * `retry`, doubling on repeated failures up to `maxRetryMs`) with `Last-Event-ID`, so it
 * receives exactly what it missed; a silent connection (no heartbeat for
 * `heartbeatTimeoutMs`) is dropped and reopened. Verifying stays a local look-up; the feed
 * being down only makes the mirror stale (`status()` is `'degraded'`, `onError` says why).
 *
 * @example
 * ```ts
 * const mirror = new DenylistMirror();
 * const feed = syncDenylistFromFeed({
 *   feedUrl: 'https://auth.example.com/revocations/stream',
 *   clientId: 'billing', clientSecret: process.env.TESSERA_FEED_SECRET!,
 *   mirror, onError: (err) => log.warn(err.message),
 * });
 * await feed.ready;
 * if (mirror.isRevoked(claims, Date.now())) reject();
 * ```
 */
export function syncDenylistFromFeed(options: FeedSyncOptions): FeedSync {
  const { mirror } = options;
  const now = options.now ?? Date.now;
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  const maxRetryMs = options.maxRetryMs ?? DEFAULT_MAX_RETRY_MS;
  const authorization = basicCredentials(options.clientId, options.clientSecret);

  let cursor = options.lastEventId;
  let retryMs = DEFAULT_RETRY_MS;
  let closed = false;
  let synced = false;
  let lastStatus: FeedSyncStatus = 'degraded';
  let current: AbortController | undefined;
  let wake: (() => void) | undefined;

  const firstComplete = firstLoad();
  const ready = firstComplete.promise;

  const status = (): FeedSyncStatus => (!closed && synced ? 'ok' : 'degraded');
  const report = (): void => {
    const s = status();
    if (s === lastStatus || closed) return;
    lastStatus = s;
    options.onChange?.(s);
  };
  const caughtUp = (): void => {
    synced = true;
    report();
    firstComplete.loaded();
  };

  function apply(event: SseEvent): void {
    if (event.type === 'snapshot') {
      let body: { entries?: unknown } | null;
      try {
        body = JSON.parse(event.data) as { entries?: unknown } | null;
      } catch {
        body = null;
      }
      const list: unknown = body?.entries;
      if (!Array.isArray(list)) throw new FeedError('the revocation feed sent a malformed snapshot');
      const at = now();
      const entries = list.map(parseFeedEntry).filter((e): e is DenylistEntry => e !== undefined && e.until > at);
      mirror.replaceAll(entries);
      cursor = event.id;
      caughtUp();
      options.onEvent?.({ type: 'snapshot', cursor: event.id, entries });
    } else if (event.type === 'revocation') {
      let entry: DenylistEntry | undefined;
      try {
        entry = parseFeedEntry(JSON.parse(event.data));
      } catch {
        entry = undefined;
      }
      // An entry this version cannot read (a newer kind) is skipped, its cursor still taken.
      if (entry) mirror.apply(entry);
      cursor = event.id;
      if (entry) options.onEvent?.({ type: 'revocation', cursor: event.id, entry });
    }
  }

  /** One connection, until it ends or fails (it always ends in a FeedError). */
  async function follow(controller: AbortController): Promise<never> {
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization, 'cache-control': 'no-store' };
    if (cursor !== undefined) headers['last-event-id'] = cursor;
    let silence: NodeJS.Timeout | undefined;
    const listen = () => {
      clearTimeout(silence);
      silence = setTimeout(
        () => controller.abort(new FeedError(`no event or heartbeat from the revocation feed for ${heartbeatTimeoutMs} ms`)),
        heartbeatTimeoutMs,
      );
    };
    listen(); // also bounds the wait for the response headers
    try {
      // Credentials never follow a redirect: configure the feed's final URL.
      const res = await fetchFn(options.feedUrl, { headers, signal: controller.signal, redirect: 'error' });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw refusal(res.status);
      }
      const type = res.headers.get('content-type') ?? '';
      if (!/^text\/event-stream\b/i.test(type) || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw new FeedError(`the revocation feed answered ${type || 'no content type'}, not text/event-stream`);
      }
      const resumed = cursor !== undefined;
      const parser = new SseParser({ onEvent: apply, onRetry: (ms) => (retryMs = Math.max(ms, MIN_RETRY_MS)) });
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      let first = true;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        listen();
        parser.push(decoder.decode(value, { stream: true }));
        // A resumed stream sends what was missed at once and then only news: from its first
        // bytes on the mirror is as current as the feed (a snapshot says so itself).
        if (first && resumed) caughtUp();
        first = false;
      }
      throw new FeedError('the revocation feed closed the stream');
    } catch (err) {
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      if (reason instanceof FeedError) throw reason;
      // fetch says only "fetch failed"; the why (ECONNREFUSED, a reset…) is in its causes.
      throw new FeedError(`revocation feed connection failed: ${describeCause(reason)?.message ?? 'unknown error'}`, undefined, { cause: reason });
    } finally {
      clearTimeout(silence);
      controller.abort(); // frees the socket whichever way we left
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!closed) {
      const controller = new AbortController();
      current = controller;
      let wasCaughtUp = false;
      try {
        await follow(controller);
      } catch (err) {
        wasCaughtUp = synced;
        synced = false;
        report();
        if (closed) return;
        options.onError?.(err instanceof Error ? err : new Error(String(err)));
      }
      failures = wasCaughtUp ? 0 : failures + 1;
      // Jittered, so that every service does not reconnect to a restarted replica at once.
      const delay = Math.min(retryMs * 2 ** failures, maxRetryMs) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  const running = run();
  const pruneTimer = setInterval(() => mirror.prune(now()), PRUNE_INTERVAL_MS);
  pruneTimer.unref();

  return {
    ready,
    status,
    cursor: () => cursor,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(pruneTimer);
      current?.abort(new FeedError('closed'));
      wake?.();
      firstComplete.closedBefore(new Error('revocation feed sync closed before the first load'));
      await running;
    },
  };
}
