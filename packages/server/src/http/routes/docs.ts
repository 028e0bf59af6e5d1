import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

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

/** Serves the published contract as written (/openapi.yaml) and rendered (/docs). */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  const yamlText = fs.readFileSync(OPENAPI_PATH, 'utf8');
  app.get('/openapi.yaml', async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(yamlText));
  await app.register(swagger, { mode: 'static', specification: { path: OPENAPI_PATH, baseDir: path.dirname(OPENAPI_PATH) } });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' }, staticCSP: DOCS_CSP });
}
