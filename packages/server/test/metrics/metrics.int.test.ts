// /metrics: the counters move with real traffic, latency is labelled by route pattern (never
// the raw URL), gauges are read at scrape time, each app has its own registry, and the
// endpoint can move to a port of its own.
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { startMetricsServer } from '../../src/metrics/http.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, login, PASSWORD, refresh, register, type Tokens } from '../helpers/flows.ts';
import { adminClient, deleteKeys, eventually, REDIS_URL, uniquePrefix } from '../revocation/redis-kit.ts';
import { samples, value } from './exposition.ts';

const SECOND = 1000;

async function scrape(t: TestApp): Promise<string> {
  const res = await t.fastify.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(res.headers['cache-control']).toBe('no-store');
  return res.body;
}

describe('GET /metrics', () => {
  let t: TestApp;
  let other: TestApp;
  beforeAll(async () => {
    [t, other] = await Promise.all([createTestApp(), createTestApp()]);
  });
  afterAll(async () => {
    await Promise.all([t?.close(), other?.close()]);
  });

  it('counts logins, refreshes, grace hits, reuse detections and revocations', async () => {
    const user = await register(t.fastify);
    const first = await login(t.fastify, user.email);
    const second = await login(t.fastify, user.email);
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: `${PASSWORD}!` } }), 401, 'invalid_credentials');

    const rotated = await refresh(t.fastify, first.refresh_token);
    expect(rotated.statusCode).toBe(200);
    // The same token again at once: a second tab, inside the grace window.
    expect((await refresh(t.fastify, first.refresh_token)).statusCode).toBe(200);
    t.clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    expectProblem(await refresh(t.fastify, first.refresh_token), 401, 'refresh_token_reused');

    const logout = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: second.refresh_token } });
    expect(logout.statusCode).toBe(204);

    const text = await scrape(t);
    expect(value(text, 'tessera_logins_total', { outcome: 'succeeded' })).toBe(2);
    expect(value(text, 'tessera_logins_total', { outcome: 'failed' })).toBe(1);
    expect(value(text, 'tessera_refreshes_total', { kind: 'rotated' })).toBe(1);
    expect(value(text, 'tessera_refreshes_total', { kind: 'grace' })).toBe(1);
    expect(value(text, 'tessera_refresh_grace_window_hits_total')).toBe(1);
    expect(value(text, 'tessera_refresh_token_reuse_detected_total')).toBe(1);
    // Reuse revoked the first session, logout the second: two session entries, nothing else.
    expect(value(text, 'tessera_revocations_total', { kind: 'session' })).toBe(2);
    expect(value(text, 'tessera_revocations_total', { kind: 'user' })).toBe(0);
    expect(value(text, 'tessera_denylist_entries')).toBe(2);
    expect(value(text, 'tessera_denylist_synced')).toBe(1);
    expect(text).toMatch(/^# TYPE tessera_logins_total counter$/m);
  });

  it('each app counts only its own traffic (a registry per app, not the global one)', async () => {
    const text = await scrape(other);
    expect(value(text, 'tessera_logins_total', { outcome: 'succeeded' })).toBe(0);
    expect(value(text, 'tessera_refresh_token_reuse_detected_total')).toBe(0);
  });

  it('times requests by route pattern, method and status class, never by raw URL', async () => {
    const user = await register(t.fastify);
    const tokens: Tokens = await login(t.fastify, user.email);
    const id = crypto.randomUUID();
    const missing = await t.fastify.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: bearer(tokens.access_token) });
    expect(missing.statusCode).toBe(404);
    const unrouted = `/no-such-route-${crypto.randomBytes(4).toString('hex')}`;
    expect((await t.fastify.inject({ method: 'GET', url: unrouted })).statusCode).toBe(404);

    const text = await scrape(t);
    const name = 'tessera_http_request_duration_seconds';
    const route = { route: '/auth/sessions/:id', method: 'DELETE', status_class: '4xx' };
    const buckets = samples(text, `${name}_bucket`, route);
    expect(buckets.map((b) => b.labels.le)).toContain('+Inf');
    expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(1);
    expect(value(text, `${name}_count`, route)).toBe(1);
    expect(value(text, `${name}_sum`, route)).toBeGreaterThan(0);
    // Buckets are cumulative.
    const counts = buckets.map((b) => b.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));

    expect(value(text, `${name}_count`, { route: '/auth/login', method: 'POST', status_class: '2xx' })).toBeGreaterThanOrEqual(1);
    expect(value(text, `${name}_count`, { route: 'unmatched', method: 'GET', status_class: '4xx' })).toBe(1);
    expect(text).not.toContain(id);
    expect(text).not.toContain(unrouted);
  });

  it('reports each signing key with its age and state', async () => {
    t.clock.advance(100 * SECOND);
    const text = await scrape(t);
    const [key] = t.keys.list();
    const expected = (t.clock.now() - Date.parse(key!.meta.created_at)) / 1000;
    expect(expected).toBeGreaterThanOrEqual(100);
    expect(value(text, 'tessera_signing_key_age_seconds', { kid: key!.meta.kid, state: 'active' })).toBe(expected);
    expect(samples(text, 'tessera_signing_key_age_seconds')).toHaveLength(t.keys.list().length);
  });
});

describe('METRICS_PORT', () => {
  it('moves /metrics off the main port onto a listener of its own', async () => {
    const t = await createTestApp({ config: { metricsPort: 0 } });
    const server = await startMetricsServer(t.app.metrics, { port: 0, host: '127.0.0.1' });
    try {
      expect((await t.fastify.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
      const user = await register(t.fastify);
      await login(t.fastify, user.email);

      const { port } = server.server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(value(await res.text(), 'tessera_logins_total', { outcome: 'succeeded' })).toBe(1);
    } finally {
      await server.close();
      await t.close();
    }
  });
});

describe('with the Redis denylist', () => {
  const prefix = uniquePrefix('metrics');
  const admin = adminClient();
  afterAll(async () => {
    await deleteKeys(admin, prefix);
    await admin.quit();
  });

  it('reports mirror lag for revocations published by another replica, and the sync state', async () => {
    const mine = new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock: systemClock, writeTimeoutMs: 2_000 });
    const peer = new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock: systemClock, writeTimeoutMs: 2_000 });
    const t = await createTestApp({ denylist: mine });
    await peer.start();
    try {
      const before = await scrape(t);
      expect(value(before, 'tessera_denylist_synced')).toBe(1);
      expect(value(before, 'tessera_denylist_mirror_lag_seconds_count')).toBe(0);

      await peer.revoke({ kind: 'session', id: 'sess-from-peer', until: Date.now() + 60_000 });
      await eventually(() => mine.isRevoked({ sid: 'sess-from-peer' }), 'the app replica applies the peer revocation', 5_000);

      const after = await scrape(t);
      expect(value(after, 'tessera_denylist_mirror_lag_seconds_count')).toBe(1);
      expect(value(after, 'tessera_denylist_mirror_lag_seconds_bucket', { le: '+Inf' })).toBe(1);
      expect(value(after, 'tessera_denylist_mirror_lag_seconds_sum')).toBeGreaterThanOrEqual(0);
      expect(value(after, 'tessera_denylist_entries')).toBe(1);
      // Written by the peer, so not counted as a revocation of this replica.
      expect(value(after, 'tessera_revocations_total', { kind: 'session' })).toBe(0);
    } finally {
      await t.close();
      await peer.close();
    }
  });
});
