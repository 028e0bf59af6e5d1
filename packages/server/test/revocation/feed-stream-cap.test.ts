// The cap on open /revocations/stream connections per client and replica
// (REVOCATION_FEED_MAX_STREAMS_PER_CLIENT, default 16): one client cannot hold an unbounded
// number of streams (each costs buffers and a listener), the one beyond gets 429
// `too_many_streams` before anything is read, and closing a stream frees its slot.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { basic, FEED_CLIENT, FEED_CLIENTS_ENV, FEED_ONLY, SseStream } from './feed-kit.ts';

const DEFAULT_CAP = 16;
/** A client of its own for the parallel test, so slots freed asynchronously by other tests cannot blur its count. */
const CROWD = { id: 'crowd', secret: 'cr0wd' };

describe('revocation feed: streams per client', () => {
  let t: TestApp;
  let url: string;
  const streams: SseStream[] = [];
  const open = async (client = FEED_CLIENT) => {
    const stream = await SseStream.open(`${url}/revocations/stream`, basic(client));
    streams.push(stream);
    return stream;
  };
  const gauge = async (): Promise<string> => (await (await fetch(`${url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('tessera_revocation_feed_streams')).join('\n');
  const openStreams = async () => Number(/^tessera_revocation_feed_streams (\d+)/m.exec(await gauge())?.[1]);

  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: { INTROSPECTION_CLIENTS: `${FEED_CLIENTS_ENV},${CROWD.id}:${CROWD.secret}:revocations` } });
    await t.fastify.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(t.fastify.server.address() as { port: number }).port}`;
  }, 180_000);
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
  });
  afterAll(() => t?.close());

  it('the default cap is 16: the 17th is refused with 429 too_many_streams; closing one frees its slot', async () => {
    expect(t.config.revocationFeedMaxStreamsPerClient).toBe(DEFAULT_CAP);
    const held = await Promise.all(Array.from({ length: DEFAULT_CAP }, () => open()));
    expect(held.map((s) => s.response.status)).toEqual(Array.from({ length: DEFAULT_CAP }, () => 200));
    expect(await openStreams()).toBe(DEFAULT_CAP);

    const refused = await open();
    expect(refused.response.status).toBe(429);
    expect(refused.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await refused.response.json()) as { code: string; status: number; detail: string };
    expect(body).toMatchObject({ code: 'too_many_streams', status: 429 });
    expect(body.detail).toMatch(/16/);
    expect(await gauge()).toMatch(/^tessera_revocation_feed_streams_refused_total\{client_id="billing"\} 1$/m);

    // Another client has slots of its own.
    expect((await open(FEED_ONLY)).response.status).toBe(200);

    held[0]!.close();
    // The server notices the closed connection asynchronously: wait for the gauge, not for a time.
    await expect.poll(openStreams, { timeout: 10_000 }).toBe(DEFAULT_CAP);
    expect((await open()).response.status).toBe(200);
    expect((await open()).response.status).toBe(429);
  });

  it('of 100 streams opened at once by one client, exactly the cap are served', async () => {
    const all = await Promise.all(Array.from({ length: 100 }, () => open(CROWD)));
    const served = all.filter((s) => s.response.status === 200).length;
    const refused = all.filter((s) => s.response.status === 429).length;
    console.log(`one client, 100 parallel streams: ${served} served, ${refused} refused (429 too_many_streams)`);
    expect({ served, refused }).toEqual({ served: DEFAULT_CAP, refused: 100 - DEFAULT_CAP });
    expect(await gauge()).toMatch(new RegExp(`^tessera_revocation_feed_streams_refused_total\\{client_id="crowd"\\} ${100 - DEFAULT_CAP}$`, 'm'));
  });

  it('a polling client is not capped by its streams', async () => {
    await Promise.all(Array.from({ length: DEFAULT_CAP }, () => open()));
    const res = await fetch(`${url}/revocations`, { headers: basic(FEED_CLIENT) });
    expect(res.status).toBe(200);
  });
});
