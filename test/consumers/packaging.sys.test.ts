// What each package's tarball holds (`npm pack --dry-run`): what users need, nothing of the
// repository's tests, benchmarks, sources, source maps or build state.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
  '@tessera/server': ['package.json', 'README.md', 'CHANGELOG.md', 'dist/main.js', 'dist/cli/tessera.js', 'migrations/001_users_and_sessions.sql', 'openapi.yaml'],
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

// What users run: the server's tarball (with the verifier's) installed into a fresh project
// on this Node. No EBADENGINE: every package of the tree runs on the Node we support.
describe('npm install of the tarballs', () => {
  it('warns of no unsupported engine', () => {
    const project = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-engines-'));
    try {
      const packOut = execFileSync('npm', ['pack', '-w', 'packages/verifier', '-w', 'packages/server', '--pack-destination', project, '--json', '--loglevel=error'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 });
      const tarballs = (JSON.parse(packOut) as { filename: string }[]).map((p) => `./${p.filename}`);
      fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'engines', private: true }));
      const install = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', ...tarballs], { cwd: project, encoding: 'utf8', timeout: 300_000 });
      expect(install.status, install.stderr).toBe(0);
      expect(`${install.stdout}${install.stderr}`).not.toContain('EBADENGINE');
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  }, 360_000);
});
