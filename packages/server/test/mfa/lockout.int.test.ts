// The second-factor lock on two replicas sharing Redis and one PostgreSQL schema: wrong
// codes sent to both at once are counted before they are compared, so however they
// interleave exactly ten are compared, the rest are refused with mfa_locked, and exactly one
// mail is queued for the owner.
import { beforeAll, describe, expect, it } from 'vitest';
import { MFA_LOCK_THRESHOLD } from '../../src/throttle/login-throttle.ts';
import type { TestApp } from '../helpers/app.ts';
import { useRedisReplicas } from '../helpers/replicas.ts';
import { bearer, signUp } from '../helpers/flows.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';
import { uniquePrefix } from '../throttle/redis.ts';

describe('second-factor lock across replicas (Redis, PostgreSQL)', () => {
  const prefix = uniquePrefix('mfa-lock');
  let a: TestApp;
  let b: TestApp;
  // Only the lock counts here: the code back-off starts far above it.
  const replicas = useRedisReplicas(prefix, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '10000', LOGIN_FAILURES_BEFORE_BACKOFF: '100' }, { separatePools: true, setupTimeoutMs: 120_000 });
  beforeAll(() => {
    ({ a, b } = replicas());
  });

  it('of 16 wrong codes sent at once to two replicas, 10 are compared, 6 refused; one mail', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const { secret } = await enableTotp(a.fastify, tokens.access_token, a.clock.now());
    const wrong = codeFor(secret, a.clock.now() - 600_000);
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? b : a).fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload: { code: wrong } }),
      ),
    );
    const codes = answers.map((r) => r.json<{ code: string }>().code).sort();
    expect(codes.filter((c) => c === 'invalid_mfa_code')).toHaveLength(MFA_LOCK_THRESHOLD);
    expect(codes.filter((c) => c === 'mfa_locked')).toHaveLength(16 - MFA_LOCK_THRESHOLD);
    // Locked on both replicas, for the right code too.
    a.clock.set(nextStep(a.clock.now()) + 1_000);
    for (const app of [a, b]) {
      const res = await app.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload: { code: codeFor(secret, a.clock.now()) } });
      expect(res.json<{ code: string }>().code).toBe('mfa_locked');
    }
    const queued = await a.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM mail_outbox WHERE user_id = $1 AND kind = 'mfa_locked'`, [user.id]);
    expect(queued[0]!.n).toBe(1);
  }, 60_000);
});
