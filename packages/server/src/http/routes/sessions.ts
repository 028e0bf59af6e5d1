import type { FastifyInstance } from 'fastify';
import { authenticate } from '../authenticate.ts';
import { claimsOf, requestContext } from '../context.ts';
import type { RouteDeps } from '../services.ts';
import { parseWith, sessionIdParam } from '../validation.ts';

export async function sessionRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const requireBearer = authenticate(deps.verifyBearer);

  app.get('/auth/sessions', { preHandler: requireBearer }, async (request, reply) => {
    const sessions = await deps.auth.listSessions(claimsOf(request));
    return reply.header('cache-control', 'no-store').send({ sessions });
  });

  app.delete('/auth/sessions/:id', { preHandler: requireBearer }, async (request, reply) => {
    const { id } = parseWith(sessionIdParam, request.params);
    await deps.auth.deleteSession(claimsOf(request), id, requestContext(request));
    return reply.code(204).send();
  });
}
