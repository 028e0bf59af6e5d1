// auth.fetch() attaches the access token only to Tessera's origin and the app's apiOrigins
// (issue 19): any other URL is refused before a request leaves, and plain http: is accepted
// only on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { TesseraClient, TesseraError } from '@tessera/client';

const BASE = 'https://auth.example.test';

/** Records every request (full URL and Authorization header); Tessera's login answers a token. */
function recorder() {
  const sent: { url: string; authorization: string | null }[] = [];
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    sent.push({ url, authorization: new Headers(init.headers).get('authorization') });
    if (url === `${BASE}/auth/login`) {
      return new Response(JSON.stringify({ access_token: 'at-1', token_type: 'Bearer', expires_in: 900, refresh_token: 'rt-1' }), { status: 200 });
    }
    return new Response('{}', { status: 200 });
  }) as typeof globalThis.fetch;
  return { fetch, sent };
}

const clients: TesseraClient[] = [];
async function signedIn(options: Partial<ConstructorParameters<typeof TesseraClient>[0]> = {}) {
  const r = recorder();
  const auth = new TesseraClient({ baseUrl: BASE, delivery: 'body', tabs: false, fetch: r.fetch, ...options });
  clients.push(auth);
  await auth.login({ email: 'a@example.com', password: 'pw' });
  r.sent.length = 0;
  return { auth, sent: r.sent };
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('auth.fetch() and the origins it sends the bearer to', () => {
  it('refuses any origin other than Tessera’s with origin_not_allowed, and sends nothing', async () => {
    const { auth, sent } = await signedIn();
    for (const url of ['https://evil.example/steal', 'http://anything/', `${BASE}.evil.example/x`, 'https://auth.example.test:8443/x', 'http://auth.example.test/x']) {
      const err = await auth.fetch(url).catch((e: unknown) => e);
      expect(err, url).toBeInstanceOf(TesseraError);
      expect(err, url).toMatchObject({ code: 'origin_not_allowed', status: 0 });
    }
    await expect(auth.fetch(new URL('https://evil.example/'))).rejects.toMatchObject({ code: 'origin_not_allowed' });
    // No page address in Node: a relative URL has no origin to check, so it is refused too.
    await expect(auth.fetch('/api/profile')).rejects.toMatchObject({ code: 'origin_not_allowed' });
    expect(sent).toEqual([]);

    const own = await auth.fetch(`${BASE}/auth/me`);
    expect(own.status).toBe(200);
    expect(sent).toEqual([{ url: `${BASE}/auth/me`, authorization: 'Bearer at-1' }]);
  });

  it('sends the bearer to the origins listed in apiOrigins, exactly (scheme, host and port)', async () => {
    const { auth, sent } = await signedIn({ apiOrigins: ['https://api.example.test', 'http://localhost:4000/'] });
    await auth.fetch('https://api.example.test/profile?x=1');
    await auth.fetch('http://localhost:4000/api/transfers', { method: 'POST' });
    expect(sent).toEqual([
      { url: 'https://api.example.test/profile?x=1', authorization: 'Bearer at-1' },
      { url: 'http://localhost:4000/api/transfers', authorization: 'Bearer at-1' },
    ]);
    for (const url of ['http://api.example.test/profile', 'https://api.example.test:444/', 'https://sub.api.example.test/', 'http://localhost:4001/', 'http://127.0.0.1:4000/']) {
      await expect(auth.fetch(url), url).rejects.toMatchObject({ code: 'origin_not_allowed' });
    }
    expect(sent).toHaveLength(2);
  });

  it('accepts plain http only on a loopback host, for Tessera and for apiOrigins', () => {
    const make = (options: Partial<ConstructorParameters<typeof TesseraClient>[0]>) => {
      const auth = new TesseraClient({ baseUrl: BASE, tabs: false, ...options });
      auth.close();
    };
    for (const baseUrl of ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000', 'http://tessera.localhost']) {
      expect(() => make({ baseUrl }), baseUrl).not.toThrow();
    }
    expect(() => make({ baseUrl: 'http://auth.example.test' })).toThrow(TypeError);
    expect(() => make({ baseUrl: 'ftp://auth.example.test' })).toThrow(TypeError);
    expect(() => make({ apiOrigins: ['http://api.example.test'] })).toThrow(/apiOrigins/);
    expect(() => make({ apiOrigins: ['https://api.example.test/v1'] })).toThrow(/without a path/);
    expect(() => make({ apiOrigins: ['not a url'] })).toThrow(TypeError);
    expect(() => make({ apiOrigins: ['http://localhost:4000', 'https://api.example.test'] })).not.toThrow();
  });
});
