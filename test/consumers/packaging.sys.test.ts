// What each package's tarball holds (`npm pack --dry-run`): what users need, nothing of the
// repository's tests, benchmarks, sources, source maps or build state.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../packages/server/test/helpers/process.ts';

interface Packed {
  name: string;
  files: { path: string }[];
}

const packed = JSON.parse(
  execFileSync('npm', ['pack', '--dry-run', '--json', '--workspaces', '--loglevel=error'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 }),
) as Packed[];
const filesOf = (name: string) => packed.find((p) => p.name === name)!.files.map((f) => f.path);

const REQUIRED: Record<string, string[]> = {
  tessera: ['package.json', 'README.md', 'CHANGELOG.md', 'dist/main.js', 'dist/cli/tessera.js', 'migrations/001_users_and_sessions.sql', 'openapi.yaml'],
  '@tessera/verifier': ['package.json', 'README.md', 'CHANGELOG.md', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/esm/fastify.js', 'dist/esm/feed-sync.js', 'dist/cjs/feed-sync.js', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json'],
  '@tessera/client': ['package.json', 'README.md', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts'],
};

describe('npm pack', () => {
  for (const [name, required] of Object.entries(REQUIRED)) {
    it(`${name}: ships what users need and nothing else`, () => {
      const files = filesOf(name);
      for (const file of required) expect(files, file).toContain(file);
      for (const file of files) {
        expect(file).not.toMatch(/^(src|test|bench)\/|\.map$|tsbuildinfo|\.ts$(?<!\.d\.ts$)/);
      }
    });
  }
});
