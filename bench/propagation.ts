// 5. Revocation propagation across 3 replicas: a logout on one replica, then the time
// until the other replicas reject that session's access token, seen from a client; and,
// for the same logouts, until a verifier following the revocation feed (SSE from one
// replica) rejects it, beside a verifier following Redis pub/sub directly.
import { Redis } from 'ioredis';
import { createVerifier, VerifyError, type Verifier } from '@tessera/verifier';
import { denylistChannel } from '@tessera/verifier/internal';
import { Client } from './lib/client.ts';
import { AUDIENCE, createSessions, ISSUER, type Infra } from './lib/cluster.ts';
import type { ServerProcess } from './lib/process.ts';
import { fmt, fmtMs, fmtRatio, median, percentile } from './lib/stats.ts';
import type { Section } from './lib/table.ts';

export interface PropagationOptions {
  logouts?: number;
}

/**
 * Milliseconds from `since` until `verifier` refuses `token` as revoked. Checks in a loop that
 * yields to the event loop between checks (a cached verify is microseconds), so the figure is
 * when the revocation reached the verifier's mirror, give or take one loop turn.
 */
async function rejectedBy(verifier: Verifier, token: string, since: number): Promise<{ ms: number; first: boolean }> {
  for (let check = 1; ; check++) {
    try {
      await verifier.verify(token);
    } catch (err) {
      if (err instanceof VerifyError && err.code === 'revoked') return { ms: performance.now() - since, first: check === 1 };
      throw err;
    }
    if (performance.now() - since > 5_000) throw new Error('a verifier still accepts a logged-out token after 5 s');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function followers(infra: Infra, replica: ServerProcess): { redis: Verifier; feed: Verifier } {
  const base = { issuer: ISSUER, audience: AUDIENCE, jwksUri: `${replica.url}/.well-known/jwks.json`, cache: true };
  const onError = (err: Error) => process.stderr.write(`[propagation] verifier: ${err.message}\n`);
  return {
    redis: createVerifier({ ...base, onError, revocation: { redisUrl: infra.redisUrl, keyPrefix: infra.prefix } }),
    feed: createVerifier({
      ...base,
      onError,
      revocation: { feedUrl: `${replica.url}/revocations/stream`, clientId: infra.feedClient.id, clientSecret: infra.feedClient.secret },
    }),
  };
}

const sidOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

/** Cumulative buckets of tessera_denylist_mirror_lag_seconds summed over `texts`. */
function lagBuckets(texts: string[]): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const text of texts) {
    for (const m of text.matchAll(/^tessera_denylist_mirror_lag_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) {
      const le = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]);
      buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
    }
  }
  return buckets;
}

export async function benchPropagation(infra: Infra, replicas: ServerProcess[], email: string, options: PropagationOptions = {}): Promise<Section> {
  const count = options.logouts ?? 200;
  const client = new Client(16);
  const subscriber = new Redis(infra.redisUrl, { connectionName: 'bench-observer' });
  const published = new Map<string, number>();
  // Both followers in this process, the feed one on replica 1's stream: a third of the logouts
  // happen on the replica it follows, the rest reach it through Redis and that replica.
  const { redis: redisVerifier, feed: feedVerifier } = followers(infra, replicas[0]!);
  try {
    const setupStart = performance.now();
    const sessions = await createSessions(client, replicas.map((r) => r.url), email, count);
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const metricsBefore = lagBuckets(await Promise.all(replicas.map(async (r) => (await client.get(`${r.url}/metrics`)).body)));

    // An independent subscriber on the denylist channel: when the revocation message is
    // out, relative to the logout response the client gets.
    await subscriber.subscribe(denylistChannel(infra.prefix));
    subscriber.on('message', (_channel: string, message: string) => {
      const entry = JSON.parse(message) as { kind: string; id: string };
      if (entry.kind === 'session') published.set(entry.id, performance.now());
    });

    const rejections: number[] = [];
    const firstPollRejected: boolean[] = [];
    const publishVsResponse: number[] = [];
    const rejectedPollMs: number[] = [];
    const viaFeed: number[] = [];
    const viaRedis: number[] = [];
    const viaFeedFromRequest: number[] = [];
    const viaRedisFromRequest: number[] = [];
    let feedFirst = 0;
    let redisFirst = 0;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const { access_token, refresh_token } = sessions[i]!;
      const bearer = { authorization: `Bearer ${access_token}` };
      const writer = replicas[i % replicas.length]!;
      const others = replicas.filter((r) => r !== writer);
      // The token works everywhere before the logout (this also opens the keep-alive sockets).
      for (const r of others) {
        const res = await client.get(`${r.url}/auth/me`, bearer);
        if (res.status !== 200) throw new Error(`token not accepted by ${r.url} before logout: ${res.status}`);
      }
      // The first verify waits for each follower's first load; later ones are cache hits.
      await Promise.all([redisVerifier.verify(access_token), feedVerifier.verify(access_token)]);
      const logout = await client.post(`${writer.url}/auth/logout`, { refresh_token });
      if (logout.status !== 204) throw new Error(`logout: ${logout.status} ${logout.body}`);
      const responded = logout.at;
      const sent = logout.at - logout.ms;
      await Promise.all([
        rejectedBy(feedVerifier, access_token, responded).then(({ ms, first }) => {
          viaFeed.push(ms);
          viaFeedFromRequest.push(ms + (responded - sent));
          if (first) feedFirst++;
        }),
        rejectedBy(redisVerifier, access_token, responded).then(({ ms, first }) => {
          viaRedis.push(ms);
          viaRedisFromRequest.push(ms + (responded - sent));
          if (first) redisFirst++;
        }),
        ...others.map(async (r) => {
          for (let poll = 1; ; poll++) {
            const res = await client.get(`${r.url}/auth/me`, bearer);
            if (res.status === 401) {
              rejections.push(res.at - responded);
              firstPollRejected.push(poll === 1);
              rejectedPollMs.push(res.ms);
              return;
            }
            if (res.at - responded > 5_000) throw new Error(`${r.url} still accepts a logged-out token after 5 s`);
          }
        }),
      ]);
      const seen = published.get(sidOf(access_token));
      if (seen !== undefined) publishVsResponse.push(seen - responded);
    }
    const loopSeconds = (performance.now() - started) / 1000;
    const metricsAfter = lagBuckets(await Promise.all(replicas.map(async (r) => (await client.get(`${r.url}/metrics`)).body)));

    const p50 = percentile(rejections, 50);
    const p99 = percentile(rejections, 99);
    const share = firstPollRejected.filter(Boolean).length / firstPollRejected.length;
    const lagRows = [...metricsAfter.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([le, n]) => [le, n - (metricsBefore.get(le) ?? 0)] as const);
    const lagTotal = lagRows.at(-1)?.[1] ?? 0;
    const lagLine = lagRows
      .filter(([le]) => le <= 0.01 || le === Number.POSITIVE_INFINITY)
      .map(([le, n]) => `≤ ${le === Number.POSITIVE_INFINITY ? '∞' : `${le * 1000} ms`}: ${lagTotal ? ((n / lagTotal) * 100).toFixed(1) : 'n/a'}%`)
      .join(', ');
    const rows = [
      {
        area: 'propagation',
        measure: `logout on 1 of 3 replicas → token rejected by the other 2 (client-observed, ${rejections.length} samples)`,
        figure: `p50 ${fmtMs(p50)}, p99 ${fmtMs(p99)}`,
        baseline: `one rejected /auth/me: p50 ${fmtMs(median(rejectedPollMs))}`,
        ratio: '',
        target: 'p99 ≤ 50 ms',
        met: p99 <= 50,
      },
      {
        area: 'propagation',
        measure: `logout → token rejected by a verifier following the revocation feed (SSE from replica 1), ${viaFeed.length} samples`,
        figure: `p50 ${fmtMs(percentile(viaFeed, 50))}, p99 ${fmtMs(percentile(viaFeed, 99))}`,
        baseline: `Redis pub/sub follower: p50 ${fmtMs(percentile(viaRedis, 50))}, p99 ${fmtMs(percentile(viaRedis, 99))}`,
        ratio: `p50 ${fmtRatio(percentile(viaFeed, 50) / percentile(viaRedis, 50))}, p99 ${fmtRatio(percentile(viaFeed, 99) / percentile(viaRedis, 99))}`,
        target: 'p99 ≤ 100 ms',
        met: percentile(viaFeed, 99) <= 100,
      },
    ];
    const details = `### 5. Revocation propagation

3 replicas sharing PostgreSQL and Redis. ${count} sessions of one user logged in beforehand (${fmt(setupSeconds)} s, argon2-bound),
spread over the replicas. For each session, in turn: its access token is checked on the two other
replicas (200), POST /auth/logout with its refresh token goes to one replica (204), and from the moment the
logout response has arrived the client polls GET /auth/me on each of the two others over keep-alive
connections until it gets 401. The figure is that interval, ${rejections.length} samples (${fmt(loopSeconds)} s in all).

What it includes: the revocation is written to Redis and published *before* the logout is answered, so
most of the time the other replicas already have it when the client asks — the first poll was rejected in
${(share * 100).toFixed(1)}% of the samples — and the figure is then dominated by one request round trip (a
rejected /auth/me takes p50 ${fmtMs(median(rejectedPollMs))}, p99 ${fmtMs(percentile(rejectedPollMs, 99))} here). It is an upper bound of the
client-visible window: a request that left a fraction earlier could still have been accepted.

| | p50 | p99 | max |
|---|---|---|---|
| logout response → 401 on another replica | ${fmtMs(p50)} | ${fmtMs(p99)} | ${fmtMs(Math.max(...rejections))} |
| revocation message seen by an independent Redis subscriber, relative to the logout response (negative: before it) | ${fmtMs(percentile(publishVsResponse, 50))} | ${fmtMs(percentile(publishVsResponse, 99))} | ${fmtMs(Math.max(...publishVsResponse))} |

Two verifiers (\`@tessera/verifier\`, verify cache on) run in the bench process and are checked for the same
tokens from the same moment, in a loop that yields to the event loop between checks: one follows the
revocation feed (\`revocation: { feedUrl, clientId, clientSecret }\`, SSE from replica 1's
\`/revocations/stream\`), the other Redis pub/sub directly (\`revocation: { redisUrl }\`, as the replicas do).
The Redis follower receives the message Tessera publishes before it answers the logout; the feed
follower receives it when the replica it follows has read the entry from the Redis stream (XREAD) and
written it to the SSE connection — one more hop.

| ${viaFeed.length} logouts | p50 | p99 | max | rejected at the first check |
|---|---|---|---|---|
| logout response → rejected by the feed follower | ${fmtMs(percentile(viaFeed, 50))} | ${fmtMs(percentile(viaFeed, 99))} | ${fmtMs(Math.max(...viaFeed))} | ${((feedFirst / viaFeed.length) * 100).toFixed(1)}% |
| logout response → rejected by the Redis pub/sub follower | ${fmtMs(percentile(viaRedis, 50))} | ${fmtMs(percentile(viaRedis, 99))} | ${fmtMs(Math.max(...viaRedis))} | ${((redisFirst / viaRedis.length) * 100).toFixed(1)}% |
| feed ÷ Redis | ${fmtRatio(percentile(viaFeed, 50) / percentile(viaRedis, 50))} | ${fmtRatio(percentile(viaFeed, 99) / percentile(viaRedis, 99))} | | |
| logout request sent → rejected by the feed follower | ${fmtMs(percentile(viaFeedFromRequest, 50))} | ${fmtMs(percentile(viaFeedFromRequest, 99))} | ${fmtMs(Math.max(...viaFeedFromRequest))} | |
| logout request sent → rejected by the Redis pub/sub follower | ${fmtMs(percentile(viaRedisFromRequest, 50))} | ${fmtMs(percentile(viaRedisFromRequest, 99))} | ${fmtMs(Math.max(...viaRedisFromRequest))} | |
| feed ÷ Redis, from the request | ${fmtRatio(percentile(viaFeedFromRequest, 50) / percentile(viaRedisFromRequest, 50))} | ${fmtRatio(percentile(viaFeedFromRequest, 99) / percentile(viaRedisFromRequest, 99))} | | |

The replicas' own \`tessera_denylist_mirror_lag_seconds\` (publication → applied to the mirror, every
replica, millisecond timestamps), ${lagTotal} observations during this bench: ${lagLine}.
`;
    const bounds = `- **Revocation propagation: p99 ${fmtMs(p99)} (${p99 <= 50 ? 'met' : 'missed'}).** The logout is answered only after Redis has
  stored and published the revocation, so by the time the client holds the 204 the other replicas have
  usually applied it (first poll rejected in ${(share * 100).toFixed(1)}% of samples); the figure is then one /auth/me round
  trip (p50 ${fmtMs(median(rejectedPollMs))}). The tail is this machine's scheduling: the replicas, Redis, PostgreSQL and the bench
  share two busy cores, and a replica whose event loop is descheduled for a few milliseconds applies the
  message (and answers the poll) that much later.
- **Feed propagation: p50 ${fmtMs(percentile(viaFeed, 50))}, p99 ${fmtMs(percentile(viaFeed, 99))} after the logout response** (Redis pub/sub follower, same
  logouts: p50 ${fmtMs(percentile(viaRedis, 50))}, p99 ${fmtMs(percentile(viaRedis, 99))}). Already rejected at the first check after the response: feed
  ${((feedFirst / viaFeed.length) * 100).toFixed(1)}%, Redis ${((redisFirst / viaRedis.length) * 100).toFixed(1)}%. The feed adds one hop — the replica serving the stream reads the entry from its Redis
  stream and writes it to the SSE connection — which ${feedFirst * 2 >= viaFeed.length ? 'mostly completes before the logout answer reaches the client' : 'here often completed only after the logout answer reached the client'};
  its tail is that replica's event loop being descheduled on this shared machine.`;
    return { rows, details, bounds };
  } finally {
    subscriber.disconnect();
    client.close();
    await Promise.all([redisVerifier.close(), feedVerifier.close()]);
  }
}
