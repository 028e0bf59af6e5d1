// `PORT=47000 npm start` without ISSUER: the issuer, the discovery document and the tokens
// all name the port the server really listens on, the start-up log says so, and a service
// that follows discovery verifies the tokens.
import { afterAll, describe, expect, it } from 'vitest';
import { createVerifier } from '@tessera/verifier';
import { tempDir } from '../helpers/app.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { startProcess, type TesseraProcess } from '../helpers/process.ts';

const json = { 'content-type': 'application/json' };

describe('ISSUER left unset', () => {
  let testDb: TestDb | undefined;
  let server: TesseraProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    await testDb?.drop();
  });

  it('is derived from the port, logged at start, and what discovery and tokens say', async () => {
    testDb = await createTestDb('postgres');
    server = await startProcess({ env: { DATABASE_URL: urlWithSchema(testDb.schema!), KEYS_DIR: tempDir(), LOG_LEVEL: 'warn' }, readyTimeoutMs: 120_000 });
    const expected = `http://localhost:${server.port}`;
    expect(server.output()).toContain(`ISSUER is not set; using ${expected}`);

    const meta = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string; jwks_uri: string };
    expect(meta.issuer).toBe(expected);
    expect(meta.jwks_uri).toBe(`${expected}/.well-known/jwks.json`);

    const email = uniqueEmail();
    await fetch(`${server.url}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: PASSWORD }) });
    const login = await fetch(`${server.url}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: PASSWORD }) });
    const { access_token } = (await login.json()) as { access_token: string };
    const verifier = createVerifier({ issuer: meta.issuer, audience: 'tessera', jwksUri: meta.jwks_uri });
    expect((await verifier.verify(access_token)).iss).toBe(expected);
    await verifier.close();
  }, 180_000);
});
