import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));
const fromRoot = (p: string) => path.join(root, p);

// In-process tests import the packages' sources; processes the tests start run the compiled
// packages (the global setup builds them first, as `npm test` does).
const alias = [
  { find: /^@tessera\/verifier\/fastify$/, replacement: fromRoot('packages/verifier/src/fastify.ts') },
  { find: /^@tessera\/verifier\/redis$/, replacement: fromRoot('packages/verifier/src/redis.ts') },
  { find: /^@tessera\/verifier\/internal$/, replacement: fromRoot('packages/verifier/src/internal.ts') },
  { find: /^@tessera\/verifier\/feed$/, replacement: fromRoot('packages/verifier/src/feed-sync.ts') },
  { find: /^@tessera\/verifier$/, replacement: fromRoot('packages/verifier/src/index.ts') },
  { find: /^@tessera\/client$/, replacement: fromRoot('packages/client/src/index.ts') },
];

const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  resolve: { alias },
  test: {
    globalSetup: [fromRoot('scripts/lib/build-once.ts')],
    pool: 'forks',
    // Suites that start processes or browsers are heavy on a 2-core machine.
    maxWorkers: 2,
    projects: [
      { resolve: { alias }, test: { ...shared, name: 'server', include: ['packages/server/test/**/*.test.ts'] } },
      { resolve: { alias }, test: { ...shared, name: 'verifier', include: ['packages/verifier/test/**/*.test.ts'] } },
      { resolve: { alias }, test: { ...shared, name: 'client', include: ['packages/client/test/**/*.test.ts'] } },
      { resolve: { alias }, test: { ...shared, name: 'repo', include: ['test/**/*.test.ts', 'lab/test/**/*.test.ts'] } },
    ],
  },
});
