// Concurrent refreshes of one token (tabs racing, replicas racing) must never fork the
// session: every caller gets a working pair holding the same current token, nothing is
// revoked, and the next sequential refresh does not trip theft detection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { decodeJwt, me, refresh, signUp, type Tokens } from '../helpers/flows.ts';
import { usePostgresReplicas } from '../helpers/replicas.ts';
import { listSessions, SECOND, sessionRow } from './support.ts';

const PARALLEL = 20;

/** Fires PARALLEL refreshes of `token`, request i going to apps[i % apps.length]. */
async function raceRefresh(apps: FastifyInstance[], token: string) {
  const responses = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => refresh(apps[i % apps.length]!, token)));
  for (const res of responses) expect(res.statusCode, res.body).toBe(200);
  return responses.map((res) => res.json() as Tokens);
}

async function expectNoFork(apps: TestApp[], start: Tokens, results: Tokens[]) {
  const sid = decodeJwt(start.access_token).payload.sid as string;
  // One current token for everybody, and it is a new one.
  const current = new Set(results.map((r) => r.refresh_token));
  expect(current.size).toBe(1);
  const [token] = [...current];
  expect(token).not.toBe(start.refresh_token);

  // Every pair works, on every replica; all belong to the one session.
  for (const [i, r] of results.entries()) {
    expect(decodeJwt(r.access_token).payload.sid).toBe(sid);
    expect((await me(apps[i % apps.length]!.fastify, r.access_token)).statusCode).toBe(200);
  }
  expect((await me(apps[0]!.fastify, start.access_token)).statusCode).toBe(200);

  // Nothing revoked, a single live session, a single unrotated token in it.
  expect((await sessionRow(apps[0]!.db, sid))?.revoked_at).toBeNull();
  for (const app of apps) expect(await listSessions(app.fastify, results[0]!.access_token)).toHaveLength(1);
  const live = await apps[0]!.db.query('SELECT generation FROM refresh_tokens WHERE session_id = $1 AND rotated_at IS NULL', [sid]);
  expect(live).toHaveLength(1);
  for (const app of apps) expect(app.logs().some((l) => l.event === 'session.reuse_detected')).toBe(false);
  return token!;
}

describe('parallel refreshes in one process', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it(`${PARALLEL} parallel refreshes of one token all succeed with the same current token`, async () => {
    const { tokens } = await signUp(t.fastify);
    const results = await raceRefresh([t.fastify], tokens.refresh_token);
    const current = await expectNoFork([t], tokens, results);

    // Long after the window, the shared token still refreshes: nobody holds a fork.
    t.clock.advance((t.config.refreshGracePeriod + 5) * SECOND);
    const later = await refresh(t.fastify, current);
    expect(later.statusCode, later.body).toBe(200);
    const next = later.json() as Tokens;
    expect(next.refresh_token).not.toBe(current);
    expect((await me(t.fastify, next.access_token)).statusCode).toBe(200);
    expect(await listSessions(t.fastify, next.access_token)).toHaveLength(1);
  });

  it('holds for several rounds in a row', async () => {
    const { tokens } = await signUp(t.fastify);
    let start = tokens;
    for (let round = 0; round < 3; round++) {
      const results = await raceRefresh([t.fastify], start.refresh_token);
      const current = await expectNoFork([t], start, results);
      t.clock.advance(SECOND);
      start = results.find((r) => r.refresh_token === current)!;
    }
  });
});

describe('parallel refreshes across two replicas sharing the database', () => {
  let a: TestApp;
  let b: TestApp;
  const replicas = usePostgresReplicas();
  beforeAll(() => {
    ({ a, b } = replicas());
  });

  it('the two replicas really use separate pools on one schema', () => {
    expect(a.db).not.toBe(b.db);
  });

  it(`${PARALLEL} refreshes split across both replicas all succeed with the same current token`, async () => {
    const { tokens } = await signUp(a.fastify);
    const results = await raceRefresh([a.fastify, b.fastify], tokens.refresh_token);
    const current = await expectNoFork([a, b], tokens, results);

    a.clock.advance((a.config.refreshGracePeriod + 5) * SECOND);
    const onB = await refresh(b.fastify, current);
    expect(onB.statusCode, onB.body).toBe(200);
    const onA = await refresh(a.fastify, (onB.json() as Tokens).refresh_token);
    expect(onA.statusCode, onA.body).toBe(200);
    const last = onA.json() as Tokens;
    expect((await me(b.fastify, last.access_token)).statusCode).toBe(200);
    expect(await listSessions(b.fastify, last.access_token)).toHaveLength(1);
  });

  it('holds for several rounds in a row', async () => {
    const { tokens } = await signUp(b.fastify);
    let start = tokens;
    for (let round = 0; round < 3; round++) {
      const results = await raceRefresh(round % 2 === 0 ? [a.fastify, b.fastify] : [b.fastify, a.fastify], start.refresh_token);
      const current = await expectNoFork([a, b], start, results);
      a.clock.advance(SECOND);
      start = results.find((r) => r.refresh_token === current)!;
    }
  });
});
