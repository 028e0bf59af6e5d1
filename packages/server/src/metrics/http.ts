// The HTTP side of metrics: one onResponse hook times every request, and /metrics is
// served either on the main port or, with METRICS_PORT, on a listener of its own (so the
// scrape endpoint can stay on an internal network while the API faces the internet).
import Fastify, { type FastifyInstance } from 'fastify';
import type { AppMetrics } from './metrics.ts';

// Requests that matched no route share one label value: the raw URL would let any client
// mint a new time series per request.
const UNMATCHED_ROUTE = 'unmatched';

/** Records the latency of every request; call on the root instance before routes are registered. */
export function instrumentRequests(fastify: FastifyInstance, metrics: AppMetrics): void {
  fastify.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        method: request.method,
        status_class: `${Math.floor(reply.statusCode / 100)}xx`,
      },
      reply.elapsedTime / 1000,
    );
  });
}

/** GET /metrics: the Prometheus text exposition of this app's registry. */
export async function metricsRoutes(app: FastifyInstance, options: { metrics: AppMetrics }): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await options.metrics.exposition();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}

/**
 * The separate metrics listener (METRICS_PORT): nothing but GET /metrics, no logging of
 * scrapes. The entry point starts and closes it next to the main server.
 */
export async function startMetricsServer(metrics: AppMetrics, listen: { port: number; host: string }): Promise<FastifyInstance> {
  const server = Fastify({ logger: false });
  await server.register(metricsRoutes, { metrics });
  await server.listen(listen);
  return server;
}
