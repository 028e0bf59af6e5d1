// Two replicas (two apps, one PostgreSQL schema) and social sign-in: a flow started on one
// completes on the other, and the same new provider user signing in on both at once ends
// as one user with one identity, never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAcme, type Acme } from '../helpers/acme.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { decodeJwt, expectProblem, uniqueEmail } from '../helpers/flows.ts';
import { APP, callback, callbackUri, redeem, TESSERA, toCallback } from '../helpers/social.ts';

let acme: Acme;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  acme = await startAcme({ redirectUri: callbackUri() });
  const env = acme.env({ ISSUER: TESSERA, APP_URL: APP });
  a = await createTestApp({ db: 'postgres', env });
  b = await createTestApp({ db: { ...a.testDb, db: a.testDb.openAnother() }, keysDir: a.config.keysDir, clock: a.clock, env });
}, 180_000);

afterAll(async () => {
  await b?.close();
  await a?.close();
  await acme?.close();
});

const count = async (sql: string, params: unknown[] = []) => Number((await a.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params))[0]!.n);

describe('social sign-in across replicas (PostgreSQL)', () => {
  it('starts on A, calls back on B, redeems on A; state and code stay single use across replicas', async () => {
    acme.nextAccount = { sub: `sub-${Date.now()}`, email: uniqueEmail('replica'), email_verified: true };
    const { callback: url, verifier } = await toCallback(a.fastify);
    const onB = await callback(b.fastify, url);
    expect(onB.statusCode, onB.body).toBe(302);
    expectProblem(await callback(a.fastify, url), 400, 'invalid_state');
    const code = new URL(onB.headers.location as string).searchParams.get('code')!;
    const [first, second] = await Promise.all([redeem(a.fastify, code, verifier), redeem(b.fastify, code, verifier)]);
    expect([first.statusCode, second.statusCode].sort()).toEqual([200, 401]);
  });

  it('one new provider user signing in on both replicas at once: one user, one identity', async () => {
    for (let round = 0; round < 3; round++) {
      const sub = `race-${round}-${Date.now()}`;
      const email = uniqueEmail('race');
      const tokens = await Promise.all([0, 1, 2, 3].map(() => acme.signIdToken({ sub, email, email_verified: true })));
      const answers = await Promise.all(
        tokens.map((token, i) => (i % 2 === 0 ? a : b).fastify.inject({ method: 'POST', url: '/auth/providers/acme/id-token', payload: { id_token: token } })),
      );
      for (const res of answers) expect(res.statusCode, res.body).toBe(200);
      const subs = new Set(answers.map((res) => decodeJwt(res.json<{ access_token: string }>().access_token).payload.sub));
      expect(subs.size).toBe(1);
      expect(await count('users WHERE email = $1', [email])).toBe(1);
      expect(await count("identities WHERE provider = 'acme' AND subject = $1", [sub])).toBe(1);
    }
  });
});
