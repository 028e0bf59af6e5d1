// The server as it ships: compiled JavaScript under plain node, started from a folder that is
// not the repository, on the embedded default. Migrations, openapi.yaml and the /docs assets
// must be found relative to dist/, not to the working directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_MAIN, startProcess, type TesseraProcess } from '../helpers/process.ts';

describe('the compiled server started from elsewhere', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-elsewhere-'));
  let server: TesseraProcess | undefined;

  afterAll(async () => {
    await server?.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it('migrates its embedded database and serves the spec and the docs', async () => {
    expect(SERVER_MAIN).toMatch(/packages\/server\/dist\/main\.js$/);
    // Relative DATA_DIR and KEYS_DIR resolve against the working directory, as documented.
    server = await startProcess({ cwd, env: { DATA_DIR: './data', KEYS_DIR: './keys' }, readyPath: '/readyz', readyTimeoutMs: 60_000 });
    expect(fs.existsSync(path.join(cwd, 'data'))).toBe(true);
    expect(fs.readdirSync(path.join(cwd, 'keys')).some((f) => f.endsWith('.json'))).toBe(true);
    const spec = await fetch(`${server.url}/openapi.yaml`);
    expect(spec.status).toBe(200);
    expect(await spec.text()).toMatch(/^openapi: 3\.1/m);
    const docs = await fetch(`${server.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
    const register = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'elsewhere@example.com', password: 'correct horse battery staple' }),
    });
    expect(register.status).toBe(201);
  }, 90_000);
});
