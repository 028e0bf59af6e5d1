// The revocation feed for resource servers (docs/integrate/revocation-feed.md): GET /revocations/stream
// (Server-Sent Events) and GET /revocations (JSON polling), for INTROSPECTION_CLIENTS that
// hold the `revocations` permission. Both read the same log (revocation/feed.ts), from a
// cursor or as a snapshot; the stream then follows the log as it grows.
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AuthError } from '../../errors.ts';
import { dedupe, toWire, type LogItem, type RevocationLog } from '../../revocation/feed.ts';
import { requestContext } from '../context.ts';
import type { RouteDeps } from '../services.ts';
import { noStore } from '../token-response.ts';
import { parseWith } from '../validation.ts';
import type { FeedStreams } from '../../revocation/feed-streams.ts';
import type { AuthenticateClient } from './admin.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The feed client that authenticated this /revocations request. */
    feedClient?: string;
  }
}

const PAGE = 1000;
/** A client this far behind reading its stream is cut off; it resumes from its cursor when it reconnects. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const MAX_CURSOR_LENGTH = 100;

const cursorField = z.string().max(MAX_CURSOR_LENGTH, 'is too long').optional();
const streamQuery = z.object({ after: cursorField });
const pollQuery = z.object({
  after: cursorField,
  limit: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').default(PAGE),
});

function sseEvent(event: string, id: string, data: unknown): string {
  return `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}

async function readOrUnavailable(feed: RevocationLog, after: string | undefined, limit: number) {
  try {
    return await feed.read(after, limit);
  } catch (err) {
    throw new AuthError('service_unavailable', 'The revocation log is unreachable; try again shortly', { retry_after: 1 }, { cause: err });
  }
}

/**
 * Everything after `cursor` as SSE text, and the cursor to continue from: a snapshot
 * event (every live entry, gathered over as many pages as it takes) when the log cannot
 * serve the cursor, otherwise one revocation event per entry.
 */
async function catchUp(feed: RevocationLog, cursor: string | undefined): Promise<{ text: string; cursor: string }> {
  let text = '';
  let snapshot: LogItem[] | undefined;
  let next = cursor;
  for (;;) {
    const page = await readOrUnavailable(feed, next, PAGE);
    if (page.snapshot) {
      snapshot = [...page.items];
      text = '';
    } else if (snapshot) {
      snapshot.push(...page.items);
    } else {
      for (const item of page.items) text += sseEvent('revocation', item.cursor, toWire(item.entry));
    }
    next = page.next;
    if (!page.more) break;
  }
  if (snapshot) text = sseEvent('snapshot', next, { entries: dedupe(snapshot).map(toWire) }) + text;
  return { text, cursor: next };
}

export async function revocationRoutes(
  app: FastifyInstance,
  deps: RouteDeps & { authenticateFeedClient: AuthenticateClient; streams: FeedStreams },
): Promise<void> {
  const { config, denylist, streams } = deps;
  app.addHook('onRequest', async (request) => {
    const clientId = await deps.authenticateFeedClient(request.headers.authorization, requestContext(request));
    if (!config.introspectionClients.get(clientId)?.permissions.has('revocations')) {
      throw new AuthError('client_not_permitted', 'This client does not hold the revocations permission');
    }
    request.feedClient = clientId;
  });
  const feed = (): RevocationLog => {
    if (!denylist.feed) throw new AuthError('service_unavailable', 'This server keeps no revocation log');
    return denylist.feed;
  };

  app.get('/revocations', async (request, reply) => {
    const query = parseWith(pollQuery, request.query);
    const page = await readOrUnavailable(feed(), query.after, query.limit);
    return noStore(reply).send({
      snapshot: page.snapshot,
      entries: (page.snapshot ? dedupe(page.items) : page.items.map((i) => i.entry)).map(toWire),
      next: page.next,
      more: page.more,
    });
  });

  app.get('/revocations/stream', async (request, reply) => {
    const query = parseWith(streamQuery, request.query);
    // Fastify answers HEAD with this handler too: headers only, no stream left open.
    if (request.method === 'HEAD') return noStore(reply).type('text/event-stream; charset=utf-8').send();
    const header = request.headers['last-event-id'];
    const resume = typeof header === 'string' && header !== '' ? header : query.after;
    const log = feed();
    // The slot first, so a client at its cap costs no log read; given back if no stream opens.
    const slot = streams.claim(request.feedClient!);
    let state: { text: string; cursor: string };
    try {
      // Read before answering: with the log unreachable the client gets a 503, not a silent stream.
      state = await catchUp(log, resume);
    } catch (err) {
      slot.release();
      throw err;
    }

    reply.hijack();
    const res: ServerResponse = reply.raw;
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.write(`retry: 1000\n\n${state.text}`);

    // One catch-up at a time; a wake-up during one runs another after it.
    let running = false;
    let again = false;
    let ended = false;
    const pull = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          try {
            state = await catchUp(log, state.cursor);
          } catch {
            // The log is unreachable: the next wake-up or heartbeat tries again from the same cursor.
            return;
          }
          if (ended) return;
          if (state.text) res.write(state.text);
          if (res.writableLength > MAX_BUFFERED_BYTES) return end();
        } while (again);
      } finally {
        running = false;
      }
    };

    const heartbeat = setInterval(() => {
      if (res.writableLength > MAX_BUFFERED_BYTES) return end();
      res.write(': keep-alive\n\n');
      // Also a catch-up: a wake-up lost while Redis was away costs at most one interval.
      void pull();
    }, config.revocationFeedHeartbeatSeconds * 1000);
    const stopListening = log.onAppend((batch) => {
      // In step with the log and not reading: the batch is exactly what comes next.
      if (batch && !running && !ended && batch.after === state.cursor) {
        const text = batch.items.map((item) => sseEvent('revocation', item.cursor, toWire(item.entry))).join('');
        state = { text, cursor: batch.next };
        if (text) res.write(text);
        if (res.writableLength > MAX_BUFFERED_BYTES) end();
        return;
      }
      void pull();
    });
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      stopListening();
      slot.release();
      res.end();
    };
    slot.onEnd(end);
    res.on('close', end);
    res.on('error', end);
    // A wake-up may have come between the first read and the listener.
    void pull();
  });
}
