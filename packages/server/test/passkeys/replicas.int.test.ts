// Passkeys across replicas on PostgreSQL: two apps on one schema. A ceremony begun on one
// replica completes on the other; the same assertion raced to both gives exactly one
// session; two assertions carrying the same counter value race on the compare-and-set.
import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.ts';
import { bearer, signUp } from '../helpers/flows.ts';
import { usePostgresReplicas } from '../helpers/replicas.ts';
import { SoftwareAuthenticator } from '../helpers/webauthn-authenticator.ts';
import { addPasskey, loginOptions, passkeyLogin, registrationOptions } from './support.ts';

let a: TestApp;
let b: TestApp;
const replicas = usePostgresReplicas();
beforeAll(() => {
  ({ a, b } = replicas());
});

describe('passkeys on two replicas', () => {
  it('a registration begun on A completes on B; a sign-in begun on B completes on A', async () => {
    const { tokens } = await signUp(a.fastify);
    const authenticator = new SoftwareAuthenticator();
    const options = await registrationOptions(a.fastify, tokens.access_token);
    const registered = await b.fastify.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(tokens.access_token), payload: { credential: authenticator.register(options) } });
    expect(registered.statusCode, registered.body).toBe(201);
    const login = await passkeyLogin(a.fastify, authenticator.assert(await loginOptions(b.fastify)));
    expect(login.statusCode, login.body).toBe(200);
  });

  it('the same assertion raced to both replicas gives exactly one session', async () => {
    const { tokens } = await signUp(a.fastify);
    const { authenticator } = await addPasskey(a.fastify, tokens.access_token);
    for (let round = 0; round < 5; round++) {
      const credential = authenticator.assert(await loginOptions(round % 2 ? a.fastify : b.fastify));
      const answers = await Promise.all([passkeyLogin(a.fastify, credential), passkeyLogin(b.fastify, credential)]);
      const statuses = answers.map((r) => r.statusCode).sort();
      expect(statuses, answers.map((r) => r.body).join('\n')).toEqual([200, 401]);
      expect(answers.find((r) => r.statusCode === 401)!.json()).toMatchObject({ code: 'invalid_webauthn_challenge' });
    }
  });

  it('two assertions with the same counter value (a cloned key) race: exactly one wins, the other is audited', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const { authenticator } = await addPasskey(a.fastify, tokens.access_token);
    const [first, second] = [await loginOptions(a.fastify), await loginOptions(b.fastify)];
    const count = authenticator.signCount + 1;
    const answers = await Promise.all([
      passkeyLogin(a.fastify, authenticator.assert(first, { signCount: count })),
      passkeyLogin(b.fastify, authenticator.assert(second, { signCount: count })),
    ]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    const audited = [...a.logs(), ...b.logs()].filter((l) => l.event === 'passkey.counter_regressed' && l.user_id === user.id);
    expect(audited).toHaveLength(1);
  });
});
