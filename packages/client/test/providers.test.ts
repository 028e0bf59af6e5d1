// Provider sign-in in @tessera/client against a scripted Tessera: PKCE (the verifier stays
// with the client, only its S256 challenge goes to /start), the one-time code traded once,
// the provider's refusal as a TesseraError, linking, identities.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TesseraClient, TesseraError } from '@tessera/client';
import { json, scripted } from './fake-tessera.ts';

const BASE = 'https://auth.example.test';
const APP = 'https://app.example.test/auth/callback';
const identity = { id: 'id-1', provider: 'acme', email: 'a@example.com', created_at: '2026-12-07T18:00:00Z' };

const clients: TesseraClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
function client(fetch: typeof globalThis.fetch) {
  const c = new TesseraClient({ baseUrl: BASE, delivery: 'body', tabs: false, fetch });
  clients.push(c);
  return c;
}

function tesseraWithAcme(token: () => Response) {
  const tessera = scripted({
    'GET /auth/providers': () => json(200, { providers: [{ name: 'acme', display_name: 'Acme', type: 'oidc' }, { name: 'github', display_name: 'GitHub', type: 'oauth2' }] }),
    'POST /auth/providers/acme/start': () => json(200, { authorization_url: 'https://idp.example.test/authorize?client_id=x' }),
    'POST /auth/login': () => tessera.tokenResponse(),
    'POST /auth/providers/token': () => token(),
    'GET /auth/identities': () => json(200, { identities: [identity] }),
    'DELETE /auth/identities/id-1': () => new Response(null, { status: 204 }),
  });
  return tessera;
}

describe('provider sign-in in @tessera/client', () => {
  it('lists providers; starts with an S256 challenge of a fresh verifier; trades the code once with that verifier', async () => {
    const tessera = tesseraWithAcme(() => tessera.tokenResponse());
    const auth = client(tessera.fetch);
    expect(await auth.providers()).toEqual([
      { name: 'acme', displayName: 'Acme', type: 'oidc' },
      { name: 'github', displayName: 'GitHub', type: 'oauth2' },
    ]);
    const visited: string[] = [];
    const started = await auth.signInWithProvider('acme', { redirectTo: APP, remember: true, navigate: (url) => void visited.push(url) });
    expect(started.authorizationUrl).toBe('https://idp.example.test/authorize?client_id=x');
    expect(visited).toEqual([started.authorizationUrl]);
    const start = tessera.calls.find((c) => c.path === '/auth/providers/acme/start')!;
    expect(start.authorization).toBeNull();
    expect(start.body).toMatchObject({ redirect_to: APP, code_challenge_method: 'S256' });
    expect(String(start.body!.code_challenge)).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect(await auth.completeProviderSignIn(`${APP}?other=1`)).toBeNull();
    expect(await auth.completeProviderSignIn(`${APP}?code=one-time&state=s`)).toEqual({ status: 'signed_in' });
    const token = tessera.calls.find((c) => c.path === '/auth/providers/token')!;
    const verifier = String(token.body!.code_verifier);
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes: RFC 7636's 43..128 characters
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(start.body!.code_challenge);
    expect(token.body).toEqual({ code: 'one-time', code_verifier: verifier, token_delivery: 'body', remember: true });
    expect(await auth.getAccessToken()).toBe('at-1');

    // The verifier is single use: the same address again (a reload, a replayed link) is refused here.
    const again = await auth.completeProviderSignIn(`${APP}?code=one-time`).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'pkce_verifier_missing' });
    expect(tessera.calls.filter((c) => c.path === '/auth/providers/token')).toHaveLength(1);

    // Two starts never share a verifier.
    await auth.signInWithProvider('acme', { redirectTo: APP, navigate: () => undefined });
    const starts = tessera.calls.filter((c) => c.path === '/auth/providers/acme/start');
    expect(starts[1]!.body!.code_challenge).not.toBe(starts[0]!.body!.code_challenge);
  });

  it('a code this client did not start is never sent (login CSRF); a provider refusal throws its code and spends the verifier', async () => {
    const tessera = tesseraWithAcme(() => tessera.tokenResponse());
    const auth = client(tessera.fetch);
    await expect(auth.completeProviderSignIn(`${APP}?code=planted`)).rejects.toMatchObject({ code: 'pkce_verifier_missing' });
    await auth.signInWithProvider('acme', { redirectTo: APP, navigate: () => undefined });
    const err = await auth.completeProviderSignIn(`${APP}?error=account_exists&error_description=Sign+in+first`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err).toMatchObject({ code: 'account_exists', message: 'Sign in first' });
    await expect(auth.completeProviderSignIn(`${APP}?code=late`)).rejects.toMatchObject({ code: 'pkce_verifier_missing' });
    expect(tessera.calls.filter((c) => c.path === '/auth/providers/token')).toEqual([]);
  });

  it('hands back mfa_required; links to the signed-in account with the bearer; lists and unlinks identities', async () => {
    let answer: () => Response = () => json(200, { mfa_required: true, mfa_token: 'mfa-1', expires_in: 300, methods: ['totp'] });
    const tessera = tesseraWithAcme(() => answer());
    const auth = client(tessera.fetch);
    await auth.signInWithProvider('acme', { redirectTo: APP, navigate: () => undefined });
    expect(await auth.completeProviderSignIn(`${APP}?code=c1`)).toEqual({ status: 'mfa_required', mfaToken: 'mfa-1', methods: ['totp'], expiresIn: 300 });
    expect(auth.signedIn).toBe(false);

    await auth.login({ email: 'a@example.com', password: 'pw' });
    answer = () => json(200, { identity });
    await auth.linkProvider('acme', { redirectTo: APP, navigate: () => undefined });
    expect(tessera.calls.filter((c) => c.path === '/auth/providers/acme/start').at(-1)!.authorization).toBe('Bearer at-1');
    expect(await auth.completeProviderSignIn(`${APP}?code=c2`)).toEqual({
      status: 'linked',
      identity: { id: 'id-1', provider: 'acme', email: 'a@example.com', createdAt: identity.created_at },
    });
    expect(await auth.identities()).toEqual([{ id: 'id-1', provider: 'acme', email: 'a@example.com', createdAt: identity.created_at }]);
    await auth.unlinkIdentity('id-1');
    expect(tessera.calls.at(-1)).toMatchObject({ method: 'DELETE', path: '/auth/identities/id-1', authorization: 'Bearer at-1' });
  });
});
