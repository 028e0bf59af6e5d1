// @tessera/client in Node against a scripted Tessera (a fetch stand-in): the flows, the
// typed errors, the session-end reasons, and the BroadcastChannel coordination that
// browsers without Web Locks use (Node has BroadcastChannel but no navigator.locks).
import { afterEach, describe, expect, it } from 'vitest';
import { TesseraClient, TesseraError, type RefreshTokenStore, type SessionEndReason } from '@tessera/client';
import { PEER_WAIT_MS, Tabs } from '../src/tabs.ts';

const BASE = 'https://auth.example.test';

interface Call {
  path: string;
  init: RequestInit;
}

/** A scripted Tessera: `routes[path]` answers each call; every call is recorded. */
function fakeTessera(routes: Record<string, (call: Call, n: number) => Response | Promise<Response>>) {
  const calls: Call[] = [];
  let tokens = 0;
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const path = new URL(String(input)).pathname;
    const call = { path, init };
    calls.push(call);
    const route = routes[path];
    if (!route) return new Response('{}', { status: 404 });
    return route(call, calls.filter((c) => c.path === path).length);
  }) as typeof globalThis.fetch;
  const tokenResponse = (expiresIn = 900, refresh = true) =>
    json(200, { access_token: `at-${++tokens}`, token_type: 'Bearer', expires_in: expiresIn, ...(refresh ? { refresh_token: `rt-${tokens}` } : {}) });
  return { fetch, calls, tokenResponse, count: (path: string) => calls.filter((c) => c.path === path).length };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const problem = (status: number, code: string) => json(status, { type: `urn:tessera:error:${code}`, title: code, status, detail: `${code} detail`, code });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memoryStore(): RefreshTokenStore & { value: string | null } {
  const store = {
    value: null as string | null,
    get: () => store.value,
    set: (t: string) => void (store.value = t),
    remove: () => void (store.value = null),
  };
  return store;
}

const clients: TesseraClient[] = [];
function client(options: ConstructorParameters<typeof TesseraClient>[0]): TesseraClient {
  const c = new TesseraClient(options);
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('TesseraClient with body delivery (React Native)', () => {
  it('logs in, keeps the refresh token in the store, and refreshes before the access token expires', async () => {
    const tessera = fakeTessera({ '/auth/login': () => tessera.tokenResponse(2), '/auth/refresh': () => tessera.tokenResponse(2) });
    const store = memoryStore();
    const auth = client({ baseUrl: BASE, delivery: 'body', refreshTokenStore: store, fetch: tessera.fetch });
    expect(await auth.login({ email: 'a@example.com', password: 'pw' })).toEqual({ status: 'signed_in' });
    const login = JSON.parse(String(tessera.calls[0]!.init.body)) as Record<string, unknown>;
    expect(login).toEqual({ email: 'a@example.com', password: 'pw', remember: false, token_delivery: 'body' });
    expect(store.value).toMatch(/^rt-/);
    const first = await auth.getAccessToken();
    // Lifetime 2 s: refreshed at half of it, with the stored refresh token in the body.
    const stored = store.value;
    await sleep(1_300);
    expect(tessera.count('/auth/refresh')).toBe(1);
    expect(JSON.parse(String(tessera.calls.at(-1)!.init.body))).toEqual({ refresh_token: stored });
    expect(await auth.getAccessToken()).not.toBe(first);
  });

  it('adds the bearer token, refreshes once on a 401 and repeats the request; a step-up challenge is returned as is', async () => {
    const tessera = fakeTessera({
      '/auth/login': () => tessera.tokenResponse(),
      '/auth/refresh': () => tessera.tokenResponse(),
      '/api/profile': (call, n) => (n === 1 ? problem(401, 'invalid_token') : json(200, { auth: new Headers(call.init.headers).get('authorization') })),
    });
    const auth = client({ baseUrl: BASE, delivery: 'body', fetch: tessera.fetch });
    await auth.login({ email: 'a@example.com', password: 'pw' });
    const res = await auth.fetch(`${BASE}/api/profile`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ auth: 'Bearer at-2' });
    expect(tessera.count('/auth/refresh')).toBe(1);

    const stepUp = fakeTessera({
      '/auth/login': () => stepUp.tokenResponse(),
      '/api/admin': () =>
        json(401, { code: 'insufficient_user_authentication' }, { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="mfa"' }),
    });
    const second = client({ baseUrl: BASE, delivery: 'body', fetch: stepUp.fetch });
    await second.login({ email: 'a@example.com', password: 'pw' });
    expect((await second.fetch(`${BASE}/api/admin`)).status).toBe(401);
    expect(stepUp.count('/auth/refresh')).toBe(0);
  });

  it('reports why a session ended: reuse, expiry, revocation, logout', async () => {
    const outcomes: [string, SessionEndReason][] = [
      ['refresh_token_reused', 'reused'],
      ['session_expired', 'expired'],
      ['invalid_grant', 'revoked'],
    ];
    for (const [code, reason] of outcomes) {
      const tessera = fakeTessera({ '/auth/login': () => tessera.tokenResponse(), '/api/x': () => problem(401, 'invalid_token'), '/auth/refresh': () => problem(401, code) });
      const store = memoryStore();
      const auth = client({ baseUrl: BASE, delivery: 'body', refreshTokenStore: store, fetch: tessera.fetch });
      const ended: SessionEndReason[] = [];
      auth.on('sessionend', (e) => ended.push(e.reason));
      await auth.login({ email: 'a@example.com', password: 'pw' });
      expect((await auth.fetch(`${BASE}/api/x`)).status).toBe(401);
      expect(ended).toEqual([reason]);
      expect(auth.signedIn).toBe(false);
      expect(store.value).toBeNull();
    }
    const tessera = fakeTessera({ '/auth/login': () => tessera.tokenResponse(), '/auth/logout': () => new Response(null, { status: 204 }) });
    const auth = client({ baseUrl: BASE, delivery: 'body', fetch: tessera.fetch });
    const ended: SessionEndReason[] = [];
    auth.on('sessionend', (e) => ended.push(e.reason));
    await auth.login({ email: 'a@example.com', password: 'pw' });
    await auth.logout();
    expect(JSON.parse(String(tessera.calls.at(-1)!.init.body))).toEqual({ refresh_token: 'rt-1' });
    expect(ended).toEqual(['logout']);
  });

  it('throws typed errors that carry the server code, and network_error when nothing answers', async () => {
    const tessera = fakeTessera({ '/auth/login': () => problem(401, 'invalid_credentials') });
    const auth = client({ baseUrl: BASE, delivery: 'body', fetch: tessera.fetch });
    const err = await auth.login({ email: 'a@example.com', password: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err).toMatchObject({ code: 'invalid_credentials', status: 401, message: 'invalid_credentials detail' });
    const offline = client({ baseUrl: BASE, delivery: 'body', fetch: (async () => { throw new TypeError('fetch failed'); }) as typeof fetch });
    await expect(offline.login({ email: 'a@example.com', password: 'pw' })).rejects.toMatchObject({ code: 'network_error', status: 0 });
  });

  it('hands back the mfa_token when a second factor is needed, and completes the login with a code', async () => {
    const tessera = fakeTessera({
      '/auth/login': () => json(200, { mfa_required: true, mfa_token: 'mfa-1', expires_in: 300, methods: ['totp', 'recovery_code'] }),
      '/auth/mfa/verify': () => tessera.tokenResponse(),
    });
    const auth = client({ baseUrl: BASE, delivery: 'body', fetch: tessera.fetch });
    const result = await auth.login({ email: 'a@example.com', password: 'pw' });
    expect(result).toEqual({ status: 'mfa_required', mfaToken: 'mfa-1', methods: ['totp', 'recovery_code'], expiresIn: 300 });
    expect(auth.signedIn).toBe(false);
    await auth.verifyMfa({ mfaToken: 'mfa-1', code: '123456' });
    expect(JSON.parse(String(tessera.calls.at(-1)!.init.body))).toEqual({ mfa_token: 'mfa-1', code: '123456' });
    expect(auth.signedIn).toBe(true);
  });

  it('adds and removes a TOTP authenticator with the bearer token: enroll, confirm (the recovery codes), status, remove', async () => {
    const recoveryCodes = Array.from({ length: 10 }, (_, i) => `aaaa-bbbb-cccc-${String(i).padStart(4, '2')}`);
    const tessera = fakeTessera({
      '/auth/login': () => tessera.tokenResponse(),
      '/auth/mfa/totp/enroll': () => json(200, { secret: 'JBSWY3DPEHPK3PXP', otpauth_uri: 'otpauth://totp/Tessera:a%40example.com?secret=JBSWY3DPEHPK3PXP' }),
      '/auth/mfa/totp/confirm': () => json(200, { recovery_codes: recoveryCodes }),
      '/auth/mfa': () => json(200, { totp: { active: true, recovery_codes_left: 10 } }),
      '/auth/mfa/totp': (call) => (call.init.method === 'DELETE' ? new Response(null, { status: 204 }) : problem(405, 'method_not_allowed')),
    });
    const auth = client({ baseUrl: BASE, delivery: 'body', fetch: tessera.fetch });
    // Signed out: refused here, without a request.
    await expect(auth.enrollTotp({ password: 'pw' })).rejects.toMatchObject({ code: 'invalid_token', status: 401 });
    expect(tessera.calls).toEqual([]);

    await auth.login({ email: 'a@example.com', password: 'pw' });
    expect(await auth.enrollTotp({ password: 'pw' })).toEqual({
      secret: 'JBSWY3DPEHPK3PXP',
      otpauthUri: 'otpauth://totp/Tessera:a%40example.com?secret=JBSWY3DPEHPK3PXP',
    });
    expect(await auth.confirmTotp({ code: '123456' })).toEqual({ recoveryCodes });
    expect(await auth.mfaStatus()).toEqual({ totp: { active: true, recoveryCodesLeft: 10 } });
    await auth.removeTotp({ password: 'pw', recoveryCode: recoveryCodes[0]! });

    const sent = tessera.calls.slice(1).map((c) => ({
      path: c.path,
      method: c.init.method,
      auth: new Headers(c.init.headers).get('authorization'),
      body: c.init.body === undefined ? undefined : (JSON.parse(String(c.init.body)) as unknown),
    }));
    expect(sent).toEqual([
      { path: '/auth/mfa/totp/enroll', method: 'POST', auth: 'Bearer at-1', body: { password: 'pw' } },
      { path: '/auth/mfa/totp/confirm', method: 'POST', auth: 'Bearer at-1', body: { code: '123456' } },
      { path: '/auth/mfa', method: 'GET', auth: 'Bearer at-1', body: undefined },
      { path: '/auth/mfa/totp', method: 'DELETE', auth: 'Bearer at-1', body: { password: 'pw', recovery_code: recoveryCodes[0] } },
    ]);
    // Still signed in: adding or removing a factor does not end the session.
    expect(auth.signedIn).toBe(true);
  });

  it('throws the server code when a second-factor call is refused', async () => {
    const tessera = fakeTessera({
      '/auth/login': () => tessera.tokenResponse(),
      '/auth/mfa/totp/confirm': () => problem(401, 'invalid_mfa_code'),
      '/auth/mfa/totp': () => problem(409, 'mfa_not_enabled'),
      '/auth/mfa/verify': () => problem(401, 'invalid_mfa_token'),
    });
    const auth = client({ baseUrl: BASE, delivery: 'body', fetch: tessera.fetch });
    await expect(auth.verifyMfa({ mfaToken: 'mfa-expired', recoveryCode: 'aaaa-bbbb-cccc-dddd' })).rejects.toMatchObject({ code: 'invalid_mfa_token', status: 401 });
    expect(JSON.parse(String(tessera.calls[0]!.init.body))).toEqual({ mfa_token: 'mfa-expired', recovery_code: 'aaaa-bbbb-cccc-dddd' });
    await auth.login({ email: 'a@example.com', password: 'pw' });
    await expect(auth.confirmTotp({ code: '000000' })).rejects.toMatchObject({ code: 'invalid_mfa_code', status: 401 });
    await expect(auth.removeTotp({ password: 'pw', code: '000000' })).rejects.toMatchObject({ code: 'mfa_not_enabled', status: 409 });
    expect(auth.signedIn).toBe(true);
  });
});

describe('TesseraClient with cookie delivery, several instances on one BroadcastChannel (no Web Locks)', () => {
  it('shares the login, refreshes once per period for all of them, and shares the logout', async () => {
    const tessera = fakeTessera({
      '/auth/login': () => tessera.tokenResponse(2, false),
      '/auth/refresh': () => tessera.tokenResponse(2, false),
      '/auth/logout': () => new Response(null, { status: 204 }),
    });
    const channelName = `test-${Math.random()}`;
    const tabs = [0, 1, 2].map(() => client({ baseUrl: BASE, channelName, fetch: tessera.fetch }));
    const ended: SessionEndReason[] = [];
    for (const tab of tabs) tab.on('sessionend', (e) => ended.push(e.reason));

    await tabs[0]!.login({ email: 'a@example.com', password: 'pw', remember: true });
    expect(tessera.calls[0]!.init.credentials).toBe('include');
    expect(new Headers(tessera.calls[0]!.init.headers).get('x-requested-with')).toBe('tessera-client');
    // The other tabs were told at once; a restore takes a peer's token, not a refresh.
    expect(await tabs[2]!.restore()).toBe(true);
    expect(tessera.count('/auth/refresh')).toBe(0);

    await sleep(1_600);
    expect(tessera.count('/auth/refresh')).toBe(1);
    const tokens = await Promise.all(tabs.map((t) => t.getAccessToken()));
    expect(new Set(tokens)).toEqual(new Set(['at-2']));

    await tabs[1]!.logout();
    await sleep(50);
    expect(tabs.map((t) => t.signedIn)).toEqual([false, false, false]);
    expect(ended).toEqual(['logout', 'logout', 'logout']);
  });
});

describe('Tabs without Web Locks (the BroadcastChannel claim round)', () => {
  it('a tab whose refresh timer fires after the claim round still yields to the refresh under way', async () => {
    // On a busy page, timers fire late: the second tab starts after the first one's round.
    const name = `test-${Math.random()}`;
    const [first, second] = [new Tabs(name, true), new Tabs(name, true)];
    let refreshes = 0;
    let firstDone = false;
    let secondSawToken = false;
    second.onMessage((m) => void (m.type === 'token' && (secondSawToken = true)));
    try {
      const one = first.exclusive(async () => {
        refreshes += 1;
        await sleep(600);
        firstDone = true;
        first.post({ type: 'token', accessToken: 'at-1', expiresAt: Date.now() + 60_000, refreshAt: Date.now() + 30_000 });
      }, () => firstDone);
      await sleep(PEER_WAIT_MS + 150);
      const two = second.exclusive(async () => {
        if (!secondSawToken) refreshes += 1;
      }, () => secondSawToken);
      await Promise.all([one, two]);
      expect(refreshes).toBe(1);
    } finally {
      first.close();
      second.close();
    }
  });
});
