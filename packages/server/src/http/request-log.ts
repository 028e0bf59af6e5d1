// Fastify's per-request log lines ("incoming request", "request completed"), with two
// changes: health probes (every few seconds from the balancer or the orchestrator) are
// logged at debug, not info; and the request is described by the logger's `req` serializer,
// which never includes the query string (see logger.ts).
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

const PROBES = new Set(['/healthz', '/readyz']);

const isProbe = (request: FastifyRequest) => request.method === 'GET' && PROBES.has(request.routeOptions.url ?? '');

export class TesseraLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!isProbe(request)) return super.incomingRequest(request, reply, metadata);
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error || !isProbe(request)) return super.requestCompleted(error, request, reply, metadata);
    reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
