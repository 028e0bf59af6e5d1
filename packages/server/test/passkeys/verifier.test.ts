// A resource service with @tessera/verifier's Fastify plugin in front of a real (embedded)
// Tessera: requireAuth({ mfa: true }) refuses a password-only token and accepts the token of
// a passwordless passkey sign-in (amr swk/hwk + user + mfa, acr ACR_MFA).
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tesseraAuth } from '@tessera/verifier/fastify';
import { bearer, login, register, type Tokens } from '../helpers/flows.ts';
import { listeningTessera, type ListeningTessera } from '../verifier/kit.ts';
import { addPasskey, signInWith } from './support.ts';

const MFA_ACR = 'urn:example:mfa';
let tessera: ListeningTessera;
let service: FastifyInstance;

beforeAll(async () => {
  tessera = await listeningTessera({ db: 'pglite', env: { ACR_MFA: MFA_ACR } });
  service = Fastify();
  await service.register(tesseraAuth, { issuer: tessera.issuer, audience: 'tessera' });
  service.post('/transfers', { preHandler: service.requireAuth({ mfa: true }) }, async (request) => ({ amr: request.auth!.amr, acr: request.auth!.acr }));
  await service.ready();
});
afterAll(async () => {
  await service?.close();
  await tessera?.t.close();
});

it('requireAuth({ mfa: true }) accepts a passkey sign-in and refuses the password alone', async () => {
  const t = tessera.t;
  const user = await register(t.fastify);
  const password = await login(t.fastify, user.email);
  const refused = await service.inject({ method: 'POST', url: '/transfers', headers: bearer(password.access_token) });
  expect(refused.statusCode).toBe(401);
  expect(refused.headers['www-authenticate']).toMatch(/insufficient_user_authentication/);
  const { authenticator } = await addPasskey(t.fastify, password.access_token, { synced: true });
  const signedIn = await signInWith(t.fastify, authenticator);
  expect(signedIn.statusCode, signedIn.body).toBe(200);
  const res = await service.inject({ method: 'POST', url: '/transfers', headers: bearer((signedIn.json() as Tokens).access_token) });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json()).toEqual({ amr: ['swk', 'user', 'mfa'], acr: MFA_ACR });
});
