// Property-based fuzzing of every route (fast-check): random bodies, headers, tokens and
// path parameters, many of them almost right. Whatever arrives, the answer is never a 5xx,
// and its body is well-formed: problem+json on the REST routes, RFC 6749 JSON on /oauth/*,
// nothing at all for 204/304. Bounded: a fixed number of runs per route and a fixed seed
// per run printed on failure (fast-check's own reporting), no durations asserted.
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, PASSWORD, signUp, type Tokens } from '../helpers/flows.ts';
import { accessHeader, b64url } from '../helpers/forge.ts';

const RUNS = 200;

let t: TestApp;
const ADMIN = 'ops:fuzz-admin-secret';
const asAdmin = { authorization: `Basic ${Buffer.from(ADMIN).toString('base64')}` };
/** Read-only fuzzing (bearer routes) uses this user's tokens; nothing it sends can end the session. */
let tokens: Tokens;
let realEmail: string;
/** A user whose tokens the fuzzer may really use up (refresh rotation, reuse detection, logout). */
let spare: Tokens;
/** A user whose password the fuzzer may really change. */
let changer: Tokens;

beforeAll(async () => {
  t = await createTestApp({ db: 'pglite', env: { INTROSPECTION_CLIENTS: 'rs:secret', CORS_ORIGINS: 'https://app.example.com', ADMIN_CLIENTS: ADMIN } });
  const signedUp = await signUp(t.fastify);
  tokens = signedUp.tokens;
  realEmail = signedUp.user.email;
  spare = (await signUp(t.fastify)).tokens;
  changer = (await signUp(t.fastify)).tokens;
});
afterAll(() => t.close());

/** The invariant every answer must hold, whatever the request was. */
function checkAnswer(res: LightMyRequestResponse, url: string): void {
  const where = `${url} → ${res.statusCode} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, where).toBeLessThan(500);
  if (res.statusCode === 204 || res.statusCode === 304) {
    expect(res.body, where).toBe('');
    return;
  }
  const type = String(res.headers['content-type'] ?? '');
  if (url.startsWith('/oauth/') && res.statusCode >= 400) {
    expect(type, where).toMatch(/^application\/json/);
    expect(typeof (res.json() as { error?: unknown }).error, where).toBe('string');
  } else if (res.statusCode >= 400) {
    expect(type, where).toMatch(/^application\/problem\+json/);
    const problem = res.json() as { status: number; code: string; title: string; detail: string };
    expect(problem.status, where).toBe(res.statusCode);
    expect(typeof problem.code, where).toBe('string');
    expect(typeof problem.detail, where).toBe('string');
  } else if (type.startsWith('application/json')) {
    expect(() => res.json(), where).not.toThrow();
  }
  expect(res.headers['content-security-policy'], where).toBeDefined();
}

async function send(options: InjectOptions & { url: string }): Promise<void> {
  checkAnswer(await t.fastify.inject(options), options.url);
}

// --- Arbitraries: mostly junk, often nearly valid, sometimes valid. ---

const SPECIALS = ['\u0000', '\u001b', '\u007f', '\u0085', '\u2028', '\ufeff', '\ud800', '\udfff', '"', '\\', '@', '.', ' ', '%', '/', '\n'];
/** Any text, including what breaks naive code: controls, lone surrogates, quotes, escapes. */
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...SPECIALS), maxLength: 20 }),
  fc.emailAddress(),
  // The real account's email (read when generated: it exists only once the suite has started).
  fc.constant(null).map(() => realEmail),
  fc.constantFrom('', 'body', 'cookie', 'refresh_token', 'rt_', '__proto__', 'constructor', PASSWORD),
);
const jsonValue = fc.oneof(nasty, fc.jsonValue({ maxDepth: 3 }), fc.integer(), fc.boolean(), fc.constant(null));
/** Header-safe text (what can arrive over the wire; Node refuses the rest before us). */
const headerText = fc.string({ unit: fc.constantFrom(...'abcXYZ019 .-_=+/:;,"\'\t!~*'.split('')), maxLength: 80 });
/** Percent-encodes anything (lone surrogates become U+FFFD), plus raw undecodable sequences. */
const pathSegment = fc.oneof(
  nasty.map((s) => encodeURIComponent(s.toWellFormed())),
  fc.constantFrom('%', '%E0%A4%A', '%ff', '%00', '%2e%2e%2f', '..', '%C0%AE'),
);
const b64seg = fc.base64String({ maxLength: 60 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));

// Valid values per field, so that most bodies get past validation and exercise the service.
const lazy = <T>(read: () => T) => fc.constant(null).map(read);
const validValue: Record<string, fc.Arbitrary<unknown>> = {
  email: fc.oneof(fc.emailAddress(), lazy(() => realEmail), lazy(() => `  ${realEmail.toUpperCase()} `)),
  password: fc.oneof(fc.constant(PASSWORD), fc.string({ minLength: 8, maxLength: 40 })),
  remember: fc.boolean(),
  token_delivery: fc.constantFrom('body', 'cookie'),
  refresh_token: fc.oneof(lazy(() => spare.refresh_token), b64seg.map((s) => `rt_${s.padEnd(43, 'A').slice(0, 43)}`)),
  // Not the real password as a rule: one success would revoke the bearer the fuzzer holds.
  current_password: fc.string({ minLength: 1, maxLength: 40 }),
  new_password: fc.string({ minLength: 8, maxLength: 40 }),
  token: b64seg.map((s) => `mt_${s.padEnd(43, 'A').slice(0, 43)}`),
  new_email: fc.oneof(fc.emailAddress(), lazy(() => realEmail)),
};

/** Bodies for a JSON route with these field names: mostly valid values, junk values, junk keys, raw junk. */
function jsonBody(fields: string[]): fc.Arbitrary<{ payload: string; contentType: string }> {
  const value = (f: string) => fc.oneof({ weight: 4, arbitrary: validValue[f] ?? jsonValue }, { weight: 1, arbitrary: jsonValue });
  const known = fc.record(Object.fromEntries(fields.map((f) => [f, value(f)])), { requiredKeys: [] });
  const object = fc
    .tuple(known, fc.dictionary(nasty, jsonValue, { maxKeys: 3 }), fc.nat(4))
    .map(([a, extra, dice]) => JSON.stringify(dice === 0 ? { ...extra, ...a } : a));
  const raw = fc.oneof(fc.json({ maxDepth: 3 }), nasty, fc.constantFrom('{', '[]', 'null', '{"email":', '\u0000', ' '));
  const contentType = fc.oneof(
    { weight: 6, arbitrary: fc.constant('application/json') },
    { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/json; charset=latin1', '') },
  );
  return fc.record({ payload: fc.oneof({ weight: 3, arbitrary: object }, { weight: 1, arbitrary: raw }), contentType });
}

/** Authorization values: junk, Bearer + JWT-shaped junk, forged headers, mutations of a real token. */
const realMutation = fc.tuple(fc.nat(), fc.constantFrom('flip', 'cut', 'append', 'dot')).map(([at, how]) => {
  const token = tokens.access_token;
  const i = at % token.length;
  if (how === 'cut') return token.slice(0, i);
  if (how === 'append') return `${token}${token.slice(0, i % 20)}`;
  if (how === 'dot') return `${token.slice(0, i)}.${token.slice(i)}`;
  return `${token.slice(0, i)}${token[i] === 'A' ? 'B' : 'A'}${token.slice(i + 1)}`;
});
const forgedJwt = fc
  .tuple(fc.dictionary(fc.constantFrom('alg', 'typ', 'kid', 'jwk', 'jku', 'crit', 'x5u', 'b64'), jsonValue, { maxKeys: 4 }), fc.jsonValue({ maxDepth: 2 }), b64seg)
  .map(([extra, payload, sig]) => `${b64url({ ...accessHeader(String(t.keys.signingKey().kid)), ...extra })}.${b64url(JSON.stringify(payload))}.${sig}`);
const authorization = fc.oneof(
  headerText,
  fc.tuple(fc.constantFrom('Bearer ', 'bearer ', 'Bearer  ', 'Basic ', 'Bearer'), fc.oneof(headerText, fc.tuple(b64seg, b64seg, b64seg).map((p) => p.join('.')), forgedJwt)).map(([s, v]) => s + v),
);
const mutatedBearer = fc.oneof(authorization, realMutation.map((v) => `Bearer ${v}`));

// --- Properties, one per route. ---

const JSON_ROUTES: [string, string[], boolean][] = [
  ['/auth/register', ['email', 'password'], false],
  ['/auth/login', ['email', 'password', 'remember', 'token_delivery'], false],
  ['/auth/refresh', ['refresh_token'], false],
  ['/auth/logout', ['refresh_token'], false],
  ['/auth/password', ['current_password', 'new_password', 'token_delivery'], true],
  ['/auth/password/forgot', ['email'], false],
  ['/auth/password/reset', ['token', 'new_password', 'token_delivery', 'remember'], false],
  ['/auth/email/verify', ['token'], false],
  ['/auth/email/change', ['new_email', 'password'], true],
  ['/auth/email/change/confirm', ['token'], false],
  ['/auth/mfa/verify', ['mfa_token', 'code', 'recovery_code'], false],
  ['/auth/mfa/totp/enroll', ['password'], true],
  ['/auth/mfa/totp/confirm', ['code'], true],
  ['/auth/mfa/step-up', ['code', 'recovery_code'], true],
];

describe('fuzz', () => {
  it.each(JSON_ROUTES)('POST %s: bodies, content types and headers', async (url, fields, withBearer) => {
    const cookie = fc.oneof(headerText, lazy(() => spare.refresh_token)).map((v) => `tessera_refresh=${v}`);
    const extraHeaders = fc.oneof(
      { weight: 3, arbitrary: fc.constant({}) },
      { weight: 2, arbitrary: fc.record({ 'x-requested-with': headerText, cookie, origin: headerText }, { requiredKeys: [] }) },
    );
    await fc.assert(
      fc.asyncProperty(jsonBody(fields), extraHeaders, async ({ payload, contentType }, headers) => {
        const auth = withBearer ? bearer(changer.access_token) : {};
        await send({ method: 'POST', url, payload, headers: { ...headers, ...auth, ...(contentType ? { 'content-type': contentType } : {}) } });
      }),
      { numRuns: RUNS },
    );
  });

  it.each([
    ['GET', '/auth/me'],
    ['GET', '/auth/sessions'],
  ] as const)('%s %s: Authorization headers, including mutations of a real token', async (method, url) => {
    await fc.assert(
      fc.asyncProperty(mutatedBearer, async (value) => send({ method, url, headers: { authorization: value } })),
      { numRuns: RUNS },
    );
  });

  it('POST /auth/logout-all: Authorization headers (never the real token: it would end the session)', async () => {
    await fc.assert(
      fc.asyncProperty(authorization, async (value) => send({ method: 'POST', url: '/auth/logout-all', headers: { authorization: value } })),
      { numRuns: RUNS },
    );
  });

  it('/admin/users: Authorization headers, query strings, bodies and path parameters', async () => {
    await fc.assert(
      fc.asyncProperty(authorization, async (value) => send({ method: 'GET', url: '/admin/users', headers: { authorization: value } })),
      { numRuns: RUNS },
    );
    const query = fc.dictionary(fc.constantFrom('query', 'limit', 'cursor', 'other'), fc.string({ maxLength: 40 }), { maxKeys: 3 });
    await fc.assert(
      fc.asyncProperty(query, async (q) => send({ method: 'GET', url: `/admin/users?${new URLSearchParams(q)}`, headers: asAdmin })),
      { numRuns: RUNS },
    );
    await fc.assert(
      fc.asyncProperty(jsonBody(['email', 'password', 'roles']), async ({ payload, contentType }) =>
        send({ method: 'POST', url: '/admin/users', payload, headers: { ...asAdmin, ...(contentType ? { 'content-type': contentType } : {}) } }),
      ),
      { numRuns: RUNS },
    );
    const id = fc.oneof(fc.uuid(), pathSegment);
    await fc.assert(
      fc.asyncProperty(id, jsonBody(['roles']), async (value, { payload, contentType }) =>
        send({ method: 'PUT', url: `/admin/users/${value || 'x'}/roles`, payload, headers: { ...asAdmin, ...(contentType ? { 'content-type': contentType } : {}) } }),
      ),
      { numRuns: RUNS },
    );
  });

  it('DELETE /auth/sessions/{id}: path parameters', async () => {
    const id = fc.oneof(fc.uuid(), pathSegment, fc.string({ maxLength: 300 }).map((s) => encodeURIComponent(s.toWellFormed())));
    await fc.assert(
      fc.asyncProperty(id, async (value) => send({ method: 'DELETE', url: `/auth/sessions/${value || 'x'}`, headers: bearer(tokens.access_token) })),
      { numRuns: RUNS },
    );
  });

  it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect'])('POST %s: forms and client credentials', async (url) => {
    const tokenValue = fc.oneof(nasty, lazy(() => spare.refresh_token), lazy(() => spare.access_token), realMutation, forgedJwt, validValue.refresh_token!);
    // Mostly the parameters the endpoint expects (with hostile values), plus junk ones.
    const expected = fc.record(
      {
        grant_type: fc.oneof({ weight: 4, arbitrary: fc.constant('refresh_token') }, { weight: 1, arbitrary: nasty }),
        refresh_token: tokenValue,
        token: tokenValue,
        token_type_hint: fc.oneof(fc.constantFrom('access_token', 'refresh_token'), nasty),
      },
      { requiredKeys: [] },
    );
    const form = fc
      .tuple(expected, fc.dictionary(fc.oneof(fc.constantFrom('client_id', 'scope', 'grant_type'), nasty), nasty, { maxKeys: 2 }), fc.nat(3))
      .map(([known, extra, dice]) => (dice === 0 ? { ...known, ...extra } : known));
    const basic = fc.oneof(
      { weight: 3, arbitrary: fc.constant(`Basic ${Buffer.from('rs:secret').toString('base64')}`) },
      { weight: 1, arbitrary: fc.tuple(nasty, nasty).map(([id, secret]) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`) },
      { weight: 1, arbitrary: headerText },
    );
    const contentType = fc.oneof(
      { weight: 4, arbitrary: fc.constant('application/x-www-form-urlencoded') },
      { weight: 1, arbitrary: fc.constantFrom('application/x-www-form-urlencoded; charset=utf-8', 'application/json', 'text/plain') },
    );
    await fc.assert(
      fc.asyncProperty(form, basic, contentType, async (fields, authorizationValue, type) => {
        // The real refresh token may be sent (rotating it); later runs then see a reused token: still no 5xx.
        const payload = new URLSearchParams(fields as Record<string, string>).toString();
        await send({ method: 'POST', url, payload, headers: { 'content-type': type, authorization: authorizationValue } });
      }),
      { numRuns: RUNS },
    );
  });

  it('GET /.well-known/jwks.json and discovery: conditional headers and queries', async () => {
    const url = fc.constantFrom('/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/healthz');
    await fc.assert(
      fc.asyncProperty(url, headerText, headerText, fc.boolean(), async (path, etag, query, realEtag) => {
        const etagValue = realEtag ? t.keys.jwks().etag : etag;
        await send({ method: 'GET', url: `${path}?${encodeURIComponent(query)}`, headers: { 'if-none-match': etagValue } });
      }),
      { numRuns: RUNS },
    );
  });

  it('any method on any path', async () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') as fc.Arbitrary<InjectOptions['method']>;
    const path = fc.oneof(
      fc.constantFrom('/auth/login', '/auth/me', '/oauth/token', '/auth/sessions/', '/docs/', '/.well-known/jwks.json', '//auth/login', '/auth/login/'),
      fc.webPath(),
      pathSegment.map((s) => `/auth/${s}`),
    );
    await fc.assert(
      fc.asyncProperty(method, path, headerText, async (m, p, origin) => {
        const res = await t.fastify.inject({ method: m, url: p || '/', headers: { origin } });
        expect(res.statusCode, `${String(m)} ${p} → ${res.statusCode}`).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
  });
});
