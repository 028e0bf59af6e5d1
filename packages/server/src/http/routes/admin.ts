// The admin API: /admin/users…, for admin clients (ADMIN_CLIENTS, HTTP Basic). Off (404)
// unless configured. Every request authenticates before its body is even parsed.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AdminActor, AdminService } from '../../admin/admin-service.ts';
import { rolesField } from '../../admin/roles.ts';
import type { RequestContext } from '../../auth-service.ts';
import { AuthError } from '../../errors.ts';
import { requestContext } from '../context.ts';
import type { RouteDeps } from '../services.ts';
import { noStore } from '../token-response.ts';
import { emailField, newPasswordField, parseWith } from '../validation.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin client that authenticated this /admin request. */
    adminClient?: AdminActor;
  }
}

export type AuthenticateClient = (authorization: string | undefined, ctx: RequestContext) => Promise<string>;

const userIdParam = z.strictObject({ id: z.uuid('must be a user id (UUID)') });
const passkeyParams = z.strictObject({ id: z.uuid('must be a user id (UUID)'), passkeyId: z.uuid('must be a passkey id (UUID)') });
const listQuery = z.strictObject({
  query: z.string().min(1, 'must not be empty').max(320, 'is too long').optional(),
  cursor: z.string().max(512, 'is too long').optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(200, 'must be at most 200').default(50),
});
const createBody = z.strictObject({ email: emailField, password: newPasswordField, roles: rolesField.default([]) });
const rolesBody = z.strictObject({ roles: rolesField });
const passwordBody = z.strictObject({ password: newPasswordField });

export async function adminRoutes(app: FastifyInstance, deps: RouteDeps & { admin: AdminService; authenticateAdmin: AuthenticateClient }): Promise<void> {
  const { admin, config } = deps;
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (config.adminClients.size === 0) throw new AuthError('not_found', 'The admin API is not enabled (set ADMIN_CLIENTS)');
    request.adminClient = { clientId: await deps.authenticateAdmin(request.headers.authorization, requestContext(request)) };
  });
  const actor = (request: FastifyRequest): AdminActor => request.adminClient!;
  const userId = (request: FastifyRequest) => parseWith(userIdParam, request.params).id;

  app.get('/admin/users', async (request, reply) => {
    const query = parseWith(listQuery, request.query);
    return noStore(reply).send(await admin.list(query, actor(request), requestContext(request)));
  });

  app.post('/admin/users', async (request, reply) => {
    const body = parseWith(createBody, request.body);
    return noStore(reply).code(201).send(await admin.create(body, actor(request), requestContext(request)));
  });

  app.get('/admin/users/:id', async (request, reply) => {
    return noStore(reply).send(await admin.get(userId(request), actor(request), requestContext(request)));
  });

  app.delete('/admin/users/:id', async (request, reply) => {
    const ended = await admin.delete(userId(request), actor(request), requestContext(request));
    return noStore(reply).send({ sessions_ended: ended });
  });

  app.post('/admin/users/:id/disable', async (request, reply) => {
    const { sessionsEnded: _, ...user } = await admin.disable(userId(request), actor(request), requestContext(request));
    return noStore(reply).send(user);
  });

  app.put('/admin/users/:id/password', async (request, reply) => {
    const body = parseWith(passwordBody, request.body);
    const ended = await admin.setPassword(userId(request), body.password, actor(request), requestContext(request));
    return noStore(reply).send({ sessions_ended: ended });
  });

  app.post('/admin/users/:id/enable', async (request, reply) => {
    return noStore(reply).send(await admin.enable(userId(request), actor(request), requestContext(request)));
  });

  app.put('/admin/users/:id/roles', async (request, reply) => {
    const body = parseWith(rolesBody, request.body);
    return noStore(reply).send(await admin.setRoles(userId(request), body.roles, actor(request), requestContext(request)));
  });

  app.delete('/admin/users/:id/mfa', async (request, reply) => {
    return noStore(reply).send(await admin.resetMfa(userId(request), actor(request), requestContext(request)));
  });

  app.get('/admin/users/:id/passkeys', async (request, reply) => {
    return noStore(reply).send({ passkeys: await admin.listPasskeys(userId(request), actor(request), requestContext(request)) });
  });

  app.delete('/admin/users/:id/passkeys/:passkeyId', async (request, reply) => {
    const params = parseWith(passkeyParams, request.params);
    await admin.removePasskey(params.id, params.passkeyId, actor(request), requestContext(request));
    return reply.code(204).send();
  });

  app.delete('/admin/users/:id/sessions', async (request, reply) => {
    const ended = await admin.endSessions(userId(request), actor(request), requestContext(request));
    return noStore(reply).send({ sessions_ended: ended });
  });
}
