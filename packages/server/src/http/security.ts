// Response headers that protect browsers talking to us, the CORS allow-list, and the
// answers Fastify gives before any hook runs.
import cors from '@fastify/cors';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import type { Config } from '../config.ts';
import { AuthError } from '../errors.ts';
import { sendProblem } from './problem.ts';
import { CSRF_HEADER } from './refresh-cookie.ts';
import { rejectQueryStrings } from './strict-input.ts';

/** Node's default, stated: a longer request head is answered 431 before any of our code runs. */
export const MAX_HEADER_SIZE = 16 * 1024;

// The API serves JSON only: nothing may load, frame or submit anything from its answers.
// /docs (Swagger UI) replaces this with the policy it needs (see routes/docs.ts).
const API_CSP = { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] };

/** What helmet adds, for the few answers sent before its hook can run (see frameworkErrors). */
const BASELINE_HEADERS = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

export async function registerSecurity(app: FastifyInstance, config: Config): Promise<void> {
  rejectQueryStrings(app);
  // helmet's middleware, built once: @fastify/helmet rebuilt it from its options on every
  // request (parsing the CSP directives each time), a measurable share of a refresh's CPU
  // (bench/RESULTS.md, "Capacity"). The headers are the same; nothing here varies per request.
  const securityHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: API_CSP },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', (request, reply, done) => {
    securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
  });

  const allowed = new Set(config.corsOrigins);
  await app.register(cors, {
    // A function rather than the list: an origin outside it gets no CORS header at all
    // (with a list, @fastify/cors still sends Allow-Credentials: true to everyone).
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'POST', 'DELETE'],
    allowedHeaders: ['content-type', 'authorization', CSRF_HEADER],
    maxAge: 600,
  });
}

/**
 * Fastify's `frameworkErrors` option: a URL the router cannot decode, or a path parameter
 * over `maxParamLength`, gets a 400 problem naming the path (with the security headers),
 * instead of Fastify's own JSON.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const message = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is too long' : 'is not a valid URL';
  reply.headers(BASELINE_HEADERS);
  void sendProblem(reply, new AuthError('validation_failed', `path: ${message}`, { errors: [{ field: 'path', message }] }));
}
