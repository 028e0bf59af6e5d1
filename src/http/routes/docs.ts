import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export const OPENAPI_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../openapi.yaml');

/** Serves the published contract as written (/openapi.yaml) and rendered (/docs). */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  const yamlText = fs.readFileSync(OPENAPI_PATH, 'utf8');
  app.get('/openapi.yaml', async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(yamlText));
  await app.register(swagger, { mode: 'static', specification: { path: OPENAPI_PATH, baseDir: path.dirname(OPENAPI_PATH) } });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
}
