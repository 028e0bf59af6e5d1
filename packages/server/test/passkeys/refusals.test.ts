// Every refusal of a passkey ceremony, provoked with the software authenticator: each one
// answers 4xx problem+json with its code (never 5xx), and the audit line says why.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, signUp } from '../helpers/flows.ts';
import { SoftwareAuthenticator } from '../helpers/webauthn-authenticator.ts';
import { addPasskey, loginOptions, passkeyLogin, registrationOptions, signInWith } from './support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ db: 'pglite' });
});
afterAll(() => t.close());

async function userWithPasskey(options: ConstructorParameters<typeof SoftwareAuthenticator>[0] = {}) {
  const { user, tokens } = await signUp(t.fastify);
  const { authenticator, passkey } = await addPasskey(t.fastify, tokens.access_token, options);
  return { user, tokens, authenticator, passkey };
}

const refusedFor = (reason: string) => t.logs().filter((l) => l.event === 'passkey.refused' && l.reason === reason);

describe('the challenge', () => {
  it('a replayed assertion is refused: the challenge was used', async () => {
    const { authenticator } = await userWithPasskey();
    const credential = authenticator.assert(await loginOptions(t.fastify));
    expect((await passkeyLogin(t.fastify, credential)).statusCode).toBe(200);
    expectProblem(await passkeyLogin(t.fastify, credential), 401, 'invalid_webauthn_challenge');
  });

  it('a challenge never issued is refused', async () => {
    const { authenticator } = await userWithPasskey();
    const res = await signInWith(t.fastify, authenticator, { challenge: crypto.randomBytes(32).toString('base64url') });
    expectProblem(res, 401, 'invalid_webauthn_challenge');
    expect(refusedFor('invalid_challenge').length).toBeGreaterThan(0);
  });

  it('a challenge expires after 5 minutes', async () => {
    const { authenticator } = await userWithPasskey();
    const options = await loginOptions(t.fastify);
    t.clock.advance(300_000);
    expectProblem(await passkeyLogin(t.fastify, authenticator.assert(options)), 401, 'invalid_webauthn_challenge');
  });

  it('a challenge issued for another purpose is refused (registration options → login)', async () => {
    const { tokens, authenticator } = await userWithPasskey();
    const registration = await registrationOptions(t.fastify, tokens.access_token);
    expectProblem(await passkeyLogin(t.fastify, authenticator.assert({ challenge: registration.challenge, rpId: 'localhost' })), 401, 'invalid_webauthn_challenge');
  });
});

describe('verification steps', () => {
  it.each([
    ['wrong origin', { origin: 'https://evil.example' }, 'wrong_origin'],
    ['wrong RP ID hash', { rpId: 'evil.example' }, 'wrong_rp_id'],
    ['bad signature', { corruptSignature: true }, 'bad_signature'],
    ['signature by another key', { otherKey: true }, 'bad_signature'],
    ['UV missing where required (passwordless)', { flags: { uv: false } }, 'uv_missing'],
    ['UP missing', { flags: { up: false, uv: false } }, 'up_missing'],
    ['clientData type of a registration', { type: 'webauthn.create' }, 'wrong_type'],
    ['userHandle missing on a discoverable sign-in', { userHandle: null }, 'user_handle_mismatch'],
    ['backup eligibility changed', { flags: { be: true } }, 'backup_eligibility_changed'],
  ] as const)('%s → 401 invalid_passkey', async (_name, tamper, reason) => {
    const { authenticator } = await userWithPasskey();
    const res = await signInWith(t.fastify, authenticator, tamper);
    expect(expectProblem(res, 401, 'invalid_passkey')).toMatchObject({ reason });
    expect(refusedFor(reason).length).toBeGreaterThan(0);
  });

  it("another account's userHandle is refused", async () => {
    const victim = await userWithPasskey();
    const attacker = await userWithPasskey();
    const res = await signInWith(t.fastify, attacker.authenticator, { userHandle: victim.authenticator.userHandle! });
    expect(expectProblem(res, 401, 'invalid_passkey')).toMatchObject({ reason: 'user_handle_mismatch' });
  });

  it('a counter that goes backwards (or stands still) is refused and audited as a clone', async () => {
    const { user, authenticator } = await userWithPasskey();
    expect((await signInWith(t.fastify, authenticator)).statusCode).toBe(200);
    expect((await signInWith(t.fastify, authenticator)).statusCode).toBe(200); // counter 2 stored
    const back = await signInWith(t.fastify, authenticator, { signCount: 1 });
    expect(expectProblem(back, 401, 'invalid_passkey')).toMatchObject({ reason: 'counter_regressed' });
    expectProblem(await signInWith(t.fastify, authenticator, { signCount: 2 }), 401, 'invalid_passkey');
    expectProblem(await signInWith(t.fastify, authenticator, { signCount: 0 }), 401, 'invalid_passkey');
    const audited = t.logs().filter((l) => l.event === 'passkey.counter_regressed' && l.user_id === user.id);
    expect(audited[0]).toMatchObject({ stored_count: 2, presented_count: 1 });
    expect(audited).toHaveLength(3);
    // The real authenticator, moving on, still works.
    expect((await signInWith(t.fastify, authenticator)).statusCode).toBe(200);
    const metrics = await t.fastify.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/tessera_passkey_ceremonies_total\{ceremony="login",outcome="counter_regressed"\} [1-9]/);
  });
});

describe('registration refusals', () => {
  it('a credential id already registered, to anyone, is refused with 409', async () => {
    const first = await userWithPasskey();
    const { tokens } = await signUp(t.fastify);
    const again = first.authenticator.register(await registrationOptions(t.fastify, tokens.access_token));
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(tokens.access_token), payload: { credential: again } });
    expectProblem(res, 409, 'passkey_already_registered');
  });

  it.each([
    ['wrong origin', { origin: 'https://evil.example' }, 'wrong_origin'],
    ['wrong RP ID hash', { rpId: 'evil.example' }, 'wrong_rp_id'],
    ['UP missing', { flags: { up: false } }, 'up_missing'],
  ] as const)('%s → 401 invalid_passkey', async (_name, tamper, reason) => {
    const { tokens } = await signUp(t.fastify);
    const credential = new SoftwareAuthenticator().register(await registrationOptions(t.fastify, tokens.access_token), tamper);
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(tokens.access_token), payload: { credential } });
    expect(expectProblem(res, 401, 'invalid_passkey')).toMatchObject({ reason });
  });

  it("another user's registration challenge is refused", async () => {
    const a = await signUp(t.fastify);
    const b = await signUp(t.fastify);
    const credential = new SoftwareAuthenticator().register(await registrationOptions(t.fastify, a.tokens.access_token));
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/passkeys/register', headers: bearer(b.tokens.access_token), payload: { credential } });
    expectProblem(res, 401, 'invalid_webauthn_challenge');
  });
});

describe('malformed bodies: 400 naming the field, never 5xx', () => {
  const fieldsOf = (body: object) => ((body as { errors?: { field: string }[] }).errors ?? []).map((e) => e.field);

  it.each([
    ['no credential', {}, 'credential'],
    ['credential is a string', { credential: 'x' }, 'credential'],
    ['signature not base64url', { credential: { id: 'AA', rawId: 'AA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AA', authenticatorData: 'AA', signature: '!!' } } }, 'credential.response.signature'],
    ['wrong type', { credential: { id: 'AA', rawId: 'AA', type: 'password', clientExtensionResults: {}, response: { clientDataJSON: 'AA', authenticatorData: 'AA', signature: 'AA' } } }, 'credential.type'],
    ['clientDataJSON not JSON', { credential: { id: 'AA', rawId: 'AA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AAAA', authenticatorData: 'AA', signature: 'AA' } } }, 'credential.response.clientDataJSON'],
    ['unknown field', { credential: { id: 'AA', rawId: 'AA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AA', authenticatorData: 'AA', signature: 'AA' } }, admin: true }, 'admin'],
  ])('%s', async (_name, payload, field) => {
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/passkeys/login', payload });
    expect(fieldsOf(expectProblem(res, 400, 'validation_failed'))).toContain(field);
  });

  it('garbage inside well-formed base64url is a refused ceremony (4xx), not a crash', async () => {
    const { authenticator } = await userWithPasskey();
    const good = authenticator.assert(await loginOptions(t.fastify));
    const res = await passkeyLogin(t.fastify, { ...good, response: { ...good.response, authenticatorData: 'AAAA' } });
    expectProblem(res, 401, 'invalid_passkey');
    const { tokens } = await signUp(t.fastify);
    const reg = new SoftwareAuthenticator().register(await registrationOptions(t.fastify, tokens.access_token));
    const bad = await t.fastify.inject({
      method: 'POST',
      url: '/auth/passkeys/register',
      headers: bearer(tokens.access_token),
      payload: { credential: { ...reg, response: { ...reg.response, attestationObject: 'oWNmbXRkbm9uZQ' } } },
    });
    expectProblem(bad, 401, 'invalid_passkey');
  });

  it('a name too long or with control characters is refused naming the field', async () => {
    const { tokens, passkey } = await userWithPasskey();
    for (const name of ['x'.repeat(65), 'a\u0000b', '']) {
      const res = await t.fastify.inject({ method: 'PATCH', url: `/auth/passkeys/${passkey.id}`, headers: bearer(tokens.access_token), payload: { name } });
      expect(fieldsOf(expectProblem(res, 400, 'validation_failed'))).toContain('name');
    }
    const badId = await t.fastify.inject({ method: 'DELETE', url: '/auth/passkeys/not-a-uuid', headers: bearer(tokens.access_token) });
    expect(fieldsOf(expectProblem(badId, 400, 'validation_failed'))).toContain('id');
  });
});
