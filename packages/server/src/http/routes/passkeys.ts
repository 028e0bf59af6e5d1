// Passkeys: registration, the list, renaming and removal (signed in), and passwordless sign-in.
// The second-factor and step-up uses of a passkey are in routes/mfa.ts.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { PasskeyService } from '../../passkeys/passkey-service.ts';
import { authenticate } from '../authenticate.ts';
import { claimsOf, requestContext } from '../context.ts';
import type { RouteDeps } from '../services.ts';
import { noStore, sendTokens } from '../token-response.ts';
import { tokenDelivery, parseWith } from '../validation.ts';
import { authenticationCredential, passkeyName, registrationCredential } from '../webauthn-validation.ts';

const passkeyIdParam = z.strictObject({ id: z.uuid('must be a passkey id (UUID)') });
const emptyBody = z.strictObject({}).optional();
const registerBody = z.strictObject({ credential: registrationCredential, name: passkeyName.optional() });
const renameBody = z.strictObject({ name: passkeyName });
const loginBody = z.strictObject({
  credential: authenticationCredential,
  remember: z.boolean({ error: 'must be a boolean' }).default(false),
  token_delivery: tokenDelivery,
});

export async function passkeyRoutes(app: FastifyInstance, deps: RouteDeps & { passkeys: PasskeyService }): Promise<void> {
  const { passkeys, config } = deps;
  const requireBearer = authenticate(deps.verifyBearer);

  app.post('/auth/passkeys/register/options', { preHandler: requireBearer }, async (request, reply) => {
    parseWith(emptyBody, request.body);
    return noStore(reply).send(await passkeys.registrationOptions(claimsOf(request)));
  });

  app.post('/auth/passkeys/register', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(registerBody, request.body);
    const passkey = await passkeys.register(claimsOf(request), body.credential, body.name, requestContext(request));
    return noStore(reply).code(201).send(passkey);
  });

  app.get('/auth/passkeys', { preHandler: requireBearer }, async (request, reply) => {
    return noStore(reply).send({ passkeys: await passkeys.list(claimsOf(request)) });
  });

  app.patch('/auth/passkeys/:id', { preHandler: requireBearer }, async (request, reply) => {
    const { id } = parseWith(passkeyIdParam, request.params);
    const body = parseWith(renameBody, request.body);
    return noStore(reply).send(await passkeys.rename(claimsOf(request), id, body.name, requestContext(request)));
  });

  app.delete('/auth/passkeys/:id', { preHandler: requireBearer }, async (request, reply) => {
    const { id } = parseWith(passkeyIdParam, request.params);
    await passkeys.remove(claimsOf(request), id, requestContext(request));
    return reply.code(204).send();
  });

  app.post('/auth/passkeys/login/options', async (request, reply) => {
    parseWith(emptyBody, request.body);
    return noStore(reply).send(await passkeys.loginOptions());
  });

  app.post('/auth/passkeys/login', async (request, reply) => {
    const body = parseWith(loginBody, request.body);
    const pair = await passkeys.login(body.credential, { remember: body.remember }, requestContext(request));
    return sendTokens(reply, config, pair, body.token_delivery);
  });
}
