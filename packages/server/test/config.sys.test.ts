// A bad configuration stops the compiled server as a process: exit code, one message, no stack.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/app.ts';
import { REPO_ROOT, SERVER_MAIN } from './helpers/process.ts';

describe('config, as the process sees it', () => {
  it('stops the process with exit code 1 and one message, no stack trace', () => {
    const file = path.join(tempDir(), 'keys-file');
    fs.writeFileSync(file, 'x');
    const result = spawnSync(process.execPath, [SERVER_MAIN], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, PORT: 'abc', ACCESS_TOKEN_TTL: '-5', JWT_ALG: 'none', KEYS_DIR: file },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Invalid configuration');
    for (const name of ['PORT', 'ACCESS_TOKEN_TTL', 'JWT_ALG', 'KEYS_DIR']) expect(result.stderr).toContain(name);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });
});
