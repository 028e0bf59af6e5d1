import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../services.ts';

export interface Readiness {
  ready: boolean;
  checks: { database: 'ok' | 'down'; denylist: 'ok' | 'degraded'; keys: 'ok' | 'missing'; draining?: boolean };
}

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);

export async function healthRoutes(app: FastifyInstance, deps: RouteDeps & { isDraining: () => boolean }): Promise<void> {
  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const database = await withTimeout(deps.db.ping(), 2_000).then(
      () => 'ok' as const,
      () => 'down' as const,
    );
    const readiness: Readiness = {
      ready: false,
      checks: {
        database,
        // A degraded denylist (Redis unreachable) still verifies from the mirror: stay in rotation.
        denylist: deps.denylist.status(),
        keys: deps.keys.hasSigningKey() ? 'ok' : 'missing',
        ...(deps.isDraining() ? { draining: true } : {}),
      },
    };
    readiness.ready = database === 'ok' && readiness.checks.keys === 'ok' && !deps.isDraining();
    return reply
      .header('cache-control', 'no-store')
      .code(readiness.ready ? 200 : 503)
      .send({ status: readiness.ready ? 'ready' : 'not_ready', ...readiness.checks });
  });
}
