// The three resource services of the consumer test, as a team would write them against
// the installed @tessera/verifier. Each serves GET /healthz and GET /profile (bearer).
import fs from 'node:fs';
import path from 'node:path';

export interface ConsumerService {
  name: string;
  /** The file node runs (relative to the project). */
  entry: string;
  /** Writes the service's sources into the project. */
  write(project: string): void;
  /** TypeScript: run tsc on the project first. */
  compile?: boolean;
}

// Revocations come from Tessera's feed over HTTP: nothing to install besides the verifier.
const ENV = `const issuer = process.env.ISSUER;
const revocation = { feedUrl: process.env.FEED_URL, clientId: process.env.FEED_CLIENT_ID, clientSecret: process.env.FEED_CLIENT_SECRET };
const port = Number(process.env.PORT);`;

const esm = `import Fastify from 'fastify';
import { tesseraAuth } from '@tessera/verifier/fastify';

${ENV}
const app = Fastify();
await app.register(tesseraAuth, { issuer, audience: 'tessera', cache: true, revocation });
app.get('/healthz', async () => ({ ok: true }));
app.get('/profile', { preHandler: app.requireAuth }, async (request) => ({ sub: request.auth.sub }));
await app.listen({ port, host: '127.0.0.1' });
`;

const cjs = `'use strict';
const Fastify = require('fastify');
const { createVerifier, VerifyError } = require('@tessera/verifier');
const { authPreHandlers } = require('@tessera/verifier/fastify');

${ENV}
const verifier = createVerifier({ issuer, audience: 'tessera', revocation });
if (typeof VerifyError !== 'function') throw new Error('VerifyError missing from the CommonJS build');
const { requireAuth } = authPreHandlers(verifier);
const app = Fastify();
app.get('/healthz', async () => ({ ok: true }));
app.get('/profile', { preHandler: requireAuth }, async (request) => ({ sub: request.auth.sub }));
app.listen({ port, host: '127.0.0.1' }).catch((err) => {
  console.error(err);
  process.exit(1);
});
`;

const ts = `import Fastify from 'fastify';
import { createVerifier, VerifyError, type AccessTokenClaims, type VerifierOptions } from '@tessera/verifier';
import { tesseraAuth } from '@tessera/verifier/fastify';

const options: VerifierOptions = {
  issuer: process.env.ISSUER ?? 'http://localhost:3000',
  audience: 'tessera',
  revocation: { feedUrl: process.env.FEED_URL ?? 'http://localhost:3000/revocations/stream', clientId: process.env.FEED_CLIENT_ID ?? '', clientSecret: process.env.FEED_CLIENT_SECRET ?? '' },
};
const verifier = createVerifier(options);
const app = Fastify();
await app.register(tesseraAuth, { verifier });
app.get('/healthz', async () => ({ ok: true, revocation: verifier.status() }));
app.get('/profile', { preHandler: app.requireAuth }, async (request) => {
  const claims: AccessTokenClaims | undefined = request.auth;
  if (!claims) throw new VerifyError('malformed', 'requireAuth ran first');
  return { sub: claims.sub };
});
// The factory form type-checks in a consumer's strict project too; amr is typed.
app.post('/transfer', { preHandler: app.requireAuth({ mfa: true, maxAge: 300, roles: ['payer'] }) }, async (request) => {
  const amr: string[] | undefined = request.auth?.amr;
  return { amr };
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
`;

const tsconfig = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    outDir: 'dist',
    types: ['node'],
  },
  files: ['service-ts.ts'],
};

const put = (project: string, file: string, text: string) => fs.writeFileSync(path.join(project, file), text);

export const consumerServices: ConsumerService[] = [
  { name: 'ESM JavaScript with the Fastify plugin', entry: 'service-esm.js', write: (p) => put(p, 'service-esm.js', esm) },
  { name: 'CommonJS require()', entry: 'service-cjs.cjs', write: (p) => put(p, 'service-cjs.cjs', cjs) },
  {
    name: 'TypeScript compiled by tsc (NodeNext, strict)',
    entry: 'dist/service-ts.js',
    compile: true,
    write: (p) => {
      put(p, 'service-ts.ts', ts);
      put(p, 'tsconfig.json', JSON.stringify(tsconfig, null, 2));
    },
  },
];
