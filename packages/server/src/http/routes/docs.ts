import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

export const OPENAPI_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../openapi.yaml');

/**
 * Swagger UI loads only its own scripts (none inline) and fetches the spec from us, so
 * 'self' is enough there; it replaces the API's `default-src 'none'` on /docs. It does set
 * inline styles as it renders, hence 'unsafe-inline' for styles only (this page holds no
 * secret a style could leak). Unlike the plugin's stock policy, no
 * upgrade-insecure-requests: it breaks the page on plain http.
 */
const DOCS_CSP =
  "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; img-src 'self' data:; " +
  "object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'";

/** Headers of the inner answer that belong to its own connection, not to ours. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'content-length']);

/**
 * The rendered docs: Swagger UI in a Fastify instance of its own, built at the first request
 * to /docs, not at start. Its plugins and the parsed contract cost a replica ~12 MB resident,
 * for a page few replicas ever serve (docs/performance.md, "Footprint"). The outer routes
 * keep everything the app applies to every request (security headers, limits, the request
 * log); the page's own CSP replaces the API's, as before.
 */
async function buildDocsApp(): Promise<FastifyInstance> {
  const [{ default: swagger }, { default: swaggerUi }] = await Promise.all([import('@fastify/swagger'), import('@fastify/swagger-ui')]);
  const docs = Fastify({ logger: false });
  await docs.register(swagger, { mode: 'static', specification: { path: OPENAPI_PATH, baseDir: path.dirname(OPENAPI_PATH) } });
  await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' }, staticCSP: DOCS_CSP });
  await docs.ready();
  return docs;
}

/** Serves the published contract as written (/openapi.yaml) and rendered (/docs). */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  const yamlText = fs.readFileSync(OPENAPI_PATH, 'utf8');
  app.get('/openapi.yaml', async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(yamlText));
  let docs: Promise<FastifyInstance> | undefined;
  const render = async (request: FastifyRequest, reply: FastifyReply) => {
    docs ??= buildDocsApp().catch((err: unknown) => {
      docs = undefined; // a failed build is tried again by the next request
      throw err;
    });
    const inner = await (await docs).inject({ method: 'GET', url: request.url, headers: { 'accept-encoding': request.headers['accept-encoding'] ?? '' } });
    // Anything it does not have is our 404 (problem+json), as for any other path.
    if (inner.statusCode === 404) return reply.callNotFound();
    for (const [name, value] of Object.entries(inner.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) reply.header(name, value);
    return reply.code(inner.statusCode).send(inner.rawPayload);
  };
  app.get('/docs', render);
  app.get('/docs/*', render);
}
