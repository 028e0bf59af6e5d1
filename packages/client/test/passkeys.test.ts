// Passkeys in @tessera/client against a scripted Tessera and a scripted authenticator (Node
// has no WebAuthn, so this runs the hand-written base64url conversion that browsers without
// PublicKeyCredential.parse…FromJSON / toJSON() use; the Chromium e2e test runs the native one).
import { afterEach, describe, expect, it } from 'vitest';
import { TesseraClient, TesseraError, type CredentialsApi } from '@tessera/client';
import { json, problem, scripted } from './fake-tessera.ts';

const BASE = 'https://auth.example.test';
const b64u = (bytes: number[]) => Buffer.from(bytes).toString('base64url');
const bytesOf = (buffer: unknown) => [...new Uint8Array(buffer as ArrayBuffer)];

const creationOptions = {
  rp: { name: 'Tessera', id: 'example.test' },
  user: { id: b64u([1, 2, 3]), name: 'a@example.com', displayName: 'a@example.com' },
  challenge: b64u([9, 9, 9, 9]),
  pubKeyCredParams: [{ alg: -7, type: 'public-key' }],
  excludeCredentials: [{ id: b64u([7, 7]), type: 'public-key', transports: ['internal'] }],
  authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
};
const requestOptions = { challenge: b64u([5, 5, 5]), allowCredentials: [], rpId: 'example.test', userVerification: 'preferred' };
const passkey = { id: 'pk-1', name: 'Laptop', created_at: '2026-12-07T18:00:00Z', last_used_at: null, backed_up: false, transports: ['internal'] };

/** An authenticator that records what it was asked and answers fixed bytes. */
function authenticator(fail?: string) {
  const asked: { create?: CredentialCreationOptions; get?: CredentialRequestOptions } = {};
  const common = { id: b64u([42, 42]), rawId: new Uint8Array([42, 42]).buffer, type: 'public-key', authenticatorAttachment: 'platform', getClientExtensionResults: () => ({ credProps: { rk: true } }) };
  const api: CredentialsApi = {
    async create(options) {
      asked.create = options;
      if (fail) throw new DOMException('nope', fail);
      const response = { clientDataJSON: new Uint8Array([1]).buffer, attestationObject: new Uint8Array([2]).buffer, getTransports: () => ['internal'], getPublicKeyAlgorithm: () => -7 };
      return { ...common, response } as unknown as Credential;
    },
    async get(options) {
      asked.get = options;
      if (fail) throw new DOMException('nope', fail);
      const response = { clientDataJSON: new Uint8Array([1]).buffer, authenticatorData: new Uint8Array([3]).buffer, signature: new Uint8Array([4]).buffer, userHandle: new Uint8Array([1, 2, 3]).buffer };
      return { ...common, response } as unknown as Credential;
    },
  };
  return { api, asked };
}

const clients: TesseraClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
function client(fetch: typeof globalThis.fetch, webauthn: CredentialsApi) {
  const c = new TesseraClient({ baseUrl: BASE, delivery: 'body', tabs: false, fetch, webauthn });
  clients.push(c);
  return c;
}

describe('passkeys in @tessera/client', () => {
  it('registers a passkey: options with the bearer, the ceremony with binary members, the JSON response and the name back', async () => {
    const tessera = scripted({
      'POST /auth/login': () => tessera.tokenResponse(),
      'POST /auth/passkeys/register/options': () => json(200, creationOptions),
      'POST /auth/passkeys/register': () => json(201, passkey),
      'GET /auth/passkeys': () => json(200, { passkeys: [passkey] }),
      'PATCH /auth/passkeys/pk-1': (c) => json(200, { ...passkey, name: c.body!.name }),
      'DELETE /auth/passkeys/pk-1': () => new Response(null, { status: 204 }),
    });
    const { api, asked } = authenticator();
    const auth = client(tessera.fetch, api);
    await auth.login({ email: 'a@example.com', password: 'pw' });
    const added = await auth.registerPasskey({ name: 'Laptop' });
    expect(added).toEqual({ id: 'pk-1', name: 'Laptop', createdAt: passkey.created_at, lastUsedAt: null, backedUp: false, transports: ['internal'] });

    const publicKey = asked.create!.publicKey!;
    expect(bytesOf(publicKey.challenge)).toEqual([9, 9, 9, 9]);
    expect(bytesOf(publicKey.user.id)).toEqual([1, 2, 3]);
    expect(bytesOf(publicKey.excludeCredentials![0]!.id)).toEqual([7, 7]);
    expect(publicKey.authenticatorSelection).toEqual(creationOptions.authenticatorSelection);

    const [options, register] = tessera.calls.slice(1);
    expect(options!.authorization).toBe('Bearer at-1');
    expect(register!.authorization).toBe('Bearer at-1');
    expect(register!.body).toEqual({
      name: 'Laptop',
      credential: {
        id: b64u([42, 42]),
        rawId: b64u([42, 42]),
        type: 'public-key',
        authenticatorAttachment: 'platform',
        clientExtensionResults: { credProps: { rk: true } },
        response: { clientDataJSON: b64u([1]), attestationObject: b64u([2]), transports: ['internal'], publicKeyAlgorithm: -7 },
      },
    });

    expect(await auth.listPasskeys()).toHaveLength(1);
    expect((await auth.renamePasskey('pk-1', 'Phone')).name).toBe('Phone');
    await auth.deletePasskey('pk-1');
    expect(tessera.calls.at(-1)).toMatchObject({ method: 'DELETE', path: '/auth/passkeys/pk-1', authorization: 'Bearer at-1' });
  });

  it('signs in with a passkey (token delivery, remember), and completes a password login or a step-up with one', async () => {
    const tessera = scripted({
      'POST /auth/passkeys/login/options': () => json(200, requestOptions),
      'POST /auth/passkeys/login': () => tessera.tokenResponse(),
      'POST /auth/login': () => json(200, { mfa_required: true, mfa_token: 'mfa-1', expires_in: 300, methods: ['webauthn'] }),
      'POST /auth/mfa/webauthn/options': () => json(200, requestOptions),
      'POST /auth/mfa/verify': () => tessera.tokenResponse(),
      'POST /auth/mfa/step-up': () => tessera.tokenResponse(),
    });
    const { api, asked } = authenticator();
    const auth = client(tessera.fetch, api);
    expect(await auth.signInWithPasskey({ remember: true })).toEqual({ status: 'signed_in' });
    expect(bytesOf(asked.get!.publicKey!.challenge)).toEqual([5, 5, 5]);
    expect(asked.get!.mediation).toBeUndefined();
    expect(tessera.calls[1]!.body).toEqual({
      token_delivery: 'body',
      remember: true,
      credential: {
        id: b64u([42, 42]),
        rawId: b64u([42, 42]),
        type: 'public-key',
        authenticatorAttachment: 'platform',
        clientExtensionResults: { credProps: { rk: true } },
        response: { clientDataJSON: b64u([1]), authenticatorData: b64u([3]), signature: b64u([4]), userHandle: b64u([1, 2, 3]) },
      },
    });
    expect(await auth.getAccessToken()).toBe('at-1');

    await auth.logout().catch(() => undefined);
    const first = await auth.login({ email: 'a@example.com', password: 'pw' });
    expect(first).toMatchObject({ status: 'mfa_required', methods: ['webauthn'] });
    await auth.verifyMfaWithPasskey({ mfaToken: 'mfa-1' });
    const verifyOptions = tessera.calls.find((c) => c.path === '/auth/mfa/webauthn/options')!;
    expect(verifyOptions.body).toEqual({ mfa_token: 'mfa-1' });
    expect(tessera.calls.find((c) => c.path === '/auth/mfa/verify')!.body).toMatchObject({ mfa_token: 'mfa-1', credential: { id: b64u([42, 42]) } });
    expect(await auth.getAccessToken()).toBe('at-2');

    await auth.stepUpWithPasskey();
    const stepUp = tessera.calls.at(-1)!;
    expect(stepUp).toMatchObject({ path: '/auth/mfa/step-up', authorization: 'Bearer at-2', body: { credential: { id: b64u([42, 42]) } } });
    expect(tessera.calls.at(-2)).toMatchObject({ path: '/auth/mfa/webauthn/options', authorization: 'Bearer at-2' });
    expect(await auth.getAccessToken()).toBe('at-3');
  });

  it('turns the browser’s refusals into TesseraError codes and sends nothing after them', async () => {
    const tessera = scripted({
      'POST /auth/passkeys/login/options': () => json(200, requestOptions),
      'POST /auth/login': () => tessera.tokenResponse(),
      'POST /auth/passkeys/register/options': () => json(200, creationOptions),
    });
    const cases: [string, string][] = [
      ['NotAllowedError', 'passkey_cancelled'],
      ['AbortError', 'passkey_aborted'],
      ['SecurityError', 'passkey_origin_mismatch'],
      ['NotSupportedError', 'passkeys_unsupported'],
      ['UnknownError', 'passkey_failed'],
    ];
    for (const [name, code] of cases) {
      const err = await client(tessera.fetch, authenticator(name).api).signInWithPasskey().catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(TesseraError);
      expect(err, name).toMatchObject({ code, status: 0 });
    }
    const auth = client(tessera.fetch, authenticator('InvalidStateError').api);
    await auth.login({ email: 'a@example.com', password: 'pw' });
    await expect(auth.registerPasskey()).rejects.toMatchObject({ code: 'passkey_exists' });
    expect(tessera.calls.filter((c) => c.path === '/auth/passkeys/login' || c.path === '/auth/passkeys/register')).toEqual([]);

    // Node has no WebAuthn: without an injected API the calls say so before any request.
    const bare = new TesseraClient({ baseUrl: BASE, delivery: 'body', tabs: false, fetch: tessera.fetch });
    clients.push(bare);
    expect(await bare.passkeySupport()).toEqual({ passkeys: false, autofill: false });
    const before = tessera.calls.length;
    await expect(bare.signInWithPasskey({ autofill: true })).rejects.toMatchObject({ code: 'passkeys_unsupported' });
    expect(tessera.calls.length).toBe(before);
  });

  it('a server refusal keeps its code (an old session asked to step up before adding a passkey)', async () => {
    const tessera = scripted({
      'POST /auth/login': () => tessera.tokenResponse(),
      'POST /auth/passkeys/register/options': () => problem(401, 'insufficient_user_authentication'),
    });
    const auth = client(tessera.fetch, authenticator().api);
    await auth.login({ email: 'a@example.com', password: 'pw' });
    await expect(auth.registerPasskey()).rejects.toMatchObject({ code: 'insufficient_user_authentication', status: 401 });
  });

  it('autofill: a conditional request that a button’s ceremony aborts; the button’s sign-in goes through', async () => {
    const tessera = scripted({
      'POST /auth/passkeys/login/options': () => json(200, requestOptions),
      'POST /auth/passkeys/login': () => tessera.tokenResponse(),
    });
    const modes: (string | undefined)[] = [];
    const { api: answering } = authenticator();
    const api: CredentialsApi = {
      create: answering.create,
      get: (options) => {
        modes.push(options?.mediation);
        if (options?.mediation !== 'conditional') return answering.get(options);
        // Autofill waits until the user picks a passkey, or until it is aborted.
        return new Promise((_, reject) => options.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
      },
    };
    const auth = client(tessera.fetch, api);
    const autofill = auth.signInWithPasskey({ autofill: true }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    expect(await auth.signInWithPasskey()).toEqual({ status: 'signed_in' });
    expect(await autofill).toMatchObject({ code: 'passkey_aborted' });
    expect(modes).toEqual(['conditional', undefined]);
    expect(tessera.calls.filter((c) => c.path === '/auth/passkeys/login')).toHaveLength(1);
  });
});
