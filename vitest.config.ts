// Three layers by file name (docs/testing.md, docs/architecture.md "Rules of the house"):
// *.test.ts unit, *.int.test.ts integration, *.sys.test.ts system.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));
const fromRoot = (p: string) => path.join(root, p);

// In-process tests import the packages' sources; processes the tests start run the compiled
// packages (the system layer's global setup builds them first, as `npm test` does).
const alias = [
  { find: /^@tessera\/verifier\/fastify$/, replacement: fromRoot('packages/verifier/src/fastify.ts') },
  { find: /^@tessera\/verifier\/redis$/, replacement: fromRoot('packages/verifier/src/redis.ts') },
  { find: /^@tessera\/verifier\/internal$/, replacement: fromRoot('packages/verifier/src/internal.ts') },
  { find: /^@tessera\/verifier\/feed$/, replacement: fromRoot('packages/verifier/src/feed-sync.ts') },
  { find: /^@tessera\/verifier$/, replacement: fromRoot('packages/verifier/src/index.ts') },
  { find: /^@tessera\/client$/, replacement: fromRoot('packages/client/src/index.ts') },
];

// Suites skipped for something this machine lacks record why here (test/lib/requirements.ts);
// the skip-summary reporter prints them at the end of the run and removes the directory.
process.env.TESSERA_SKIP_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-skips-'));

const everyTestDir = ['packages/*/test/**', 'test/**', 'lab/test/**'];
const files = (suffix: string) => everyTestDir.map((dir) => `${dir}/*${suffix}`);

const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  env: { TESSERA_SKIP_DIR: process.env.TESSERA_SKIP_DIR },
};

// Three layers, by file name (README, "Testing"):
//   *.test.ts      unit: PGlite and the memory stores, no server, no process, no build
//   *.int.test.ts  integration: the real PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)
//   *.sys.test.ts  system: child processes, built packages, nginx, Chromium, Sentinel, Tomcat
// `vitest run` runs them in that order (groupOrder), so the fast feedback comes first.
export default defineConfig({
  resolve: { alias },
  test: {
    pool: 'forks',
    // Suites that start processes or browsers are heavy on a 2-core machine.
    maxWorkers: 2,
    reporters: ['default', fromRoot('test/lib/skip-summary.ts')],
    projects: [
      {
        resolve: { alias },
        test: {
          ...shared,
          name: 'unit',
          include: files('.test.ts'),
          exclude: [...files('.int.test.ts'), ...files('.sys.test.ts'), '**/node_modules/**'],
          setupFiles: [fromRoot('test/lib/unit-setup.ts')],
          // Workers are shared between files so that each starts its embedded PGlite once
          // (test/helpers/db.ts); unit tests keep no state between files.
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve: { alias },
        test: { ...shared, name: 'integration', include: files('.int.test.ts'), sequence: { groupOrder: 1 } },
      },
      {
        resolve: { alias },
        test: {
          ...shared,
          name: 'system',
          include: files('.sys.test.ts'),
          globalSetup: [fromRoot('scripts/lib/build-once.ts')],
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
