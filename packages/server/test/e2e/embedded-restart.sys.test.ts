// The embedded default (PGlite + in-memory denylist) as a user runs it: `npm start` with
// nothing configured but a data folder and a keys folder, stopped and started again.
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { freePort, startProcess, type TesseraProcess } from '../helpers/process.ts';

const json = { 'content-type': 'application/json' };

describe('embedded default across a restart', () => {
  const env = { DATA_DIR: tempDir('tessera-data-'), KEYS_DIR: tempDir('tessera-keys-') };
  let server: TesseraProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('keeps the key, the users and the revocations', async () => {
    // The same port both times, as `npm start` would: the issuer (derived from it) is the same.
    const port = await freePort();
    server = await startProcess({ env, port });
    const email = uniqueEmail();
    const register = await fetch(`${server.url}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: PASSWORD }) });
    expect(register.status).toBe(201);
    const login = async () => {
      const res = await fetch(`${server!.url}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: PASSWORD }) });
      expect(res.status).toBe(200);
      return (await res.json()) as { access_token: string; refresh_token: string };
    };
    const kept = await login();
    const loggedOut = await login();
    const logout = await fetch(`${server.url}/auth/logout`, { method: 'POST', headers: json, body: JSON.stringify({ refresh_token: loggedOut.refresh_token }) });
    expect(logout.status).toBe(204);
    const jwksBefore = await (await fetch(`${server.url}/.well-known/jwks.json`)).text();

    expect(await server.stop('SIGTERM')).toBe(0);
    server = await startProcess({ env, port });

    expect(await (await fetch(`${server.url}/.well-known/jwks.json`)).text()).toBe(jwksBefore);
    const me = (token: string) => fetch(`${server!.url}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    expect((await me(kept.access_token)).status).toBe(200);
    // The revocation survived the restart of the in-memory denylist (restored from SQL).
    const revoked = await me(loggedOut.access_token);
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { code: string }).code).toBe('token_revoked');
    await login();
    // Two PGlite starts (WASM) and two processes: slow on a busy 2-core machine.
  }, 90_000);
});
