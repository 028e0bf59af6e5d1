// Hostile input beyond test/http/bad-input.test.ts: every string field of every route fed
// control characters, invalid Unicode, wrong types and overlong tokens; query strings;
// deep nesting; and request heads Node refuses before Fastify (over a real socket).
// Always a 4xx naming the problem, never a 500, and the process keeps serving.
import net from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, signUp } from '../helpers/flows.ts';

let t: TestApp;
let access: string;
let base: string;

beforeAll(async () => {
  t = await createTestApp({ db: 'pglite', env: { INTROSPECTION_CLIENTS: 'rs:secret' } });
  access = (await signUp(t.fastify)).tokens.access_token;
  await t.fastify.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(t.fastify.server.address() as net.AddressInfo).port}`;
});
afterAll(() => t.close());

const BASIC = `Basic ${Buffer.from('rs:secret').toString('base64')}`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  t.fastify.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...bearer(access), ...headers } });

function expectFieldError(res: LightMyRequestResponse, field: string): void {
  const problem = expectProblem(res, 400, 'validation_failed') as unknown as { errors: { field: string }[] };
  expect(problem.errors.map((e) => e.field), res.body).toContain(field);
}

/** Every string field of every JSON route, in a body that is otherwise valid. */
const FIELDS: [string, string, Record<string, unknown>][] = [
  ['/auth/register', 'email', { email: 'a@example.com', password: 'long enough password' }],
  ['/auth/register', 'password', { email: 'a@example.com', password: 'long enough password' }],
  ['/auth/login', 'email', { email: 'a@example.com', password: 'whatever it is' }],
  ['/auth/login', 'password', { email: 'a@example.com', password: 'whatever it is' }],
  ['/auth/login', 'token_delivery', { email: 'a@example.com', password: 'whatever it is', token_delivery: 'body' }],
  ['/auth/refresh', 'refresh_token', { refresh_token: 'rt_x' }],
  ['/auth/logout', 'refresh_token', { refresh_token: 'rt_x' }],
  ['/auth/password', 'current_password', { current_password: 'whatever it is', new_password: 'long enough password' }],
  ['/auth/password', 'new_password', { current_password: 'whatever it is', new_password: 'long enough password' }],
  ['/auth/password', 'token_delivery', { current_password: 'whatever it is', new_password: 'long enough password', token_delivery: 'body' }],
  ['/auth/password/forgot', 'email', { email: 'a@example.com' }],
  ['/auth/password/reset', 'token', { token: 'mt_x', new_password: 'long enough password' }],
  ['/auth/password/reset', 'new_password', { token: 'mt_x', new_password: 'long enough password' }],
  ['/auth/email/verify', 'token', { token: 'mt_x' }],
  ['/auth/email/change', 'new_email', { new_email: 'b@example.com', password: 'whatever it is' }],
  ['/auth/email/change', 'password', { new_email: 'b@example.com', password: 'whatever it is' }],
  ['/auth/email/change/confirm', 'token', { token: 'mt_x' }],
];

const CONTROL_AND_BROKEN = ['nul\u0000inside', 'esc\u001b[31m', 'bell\u0007', 'del\u007f', 'next-line\u0085', 'lone \ud800 high', 'lone \udfff low', '\udc00\ud800 reversed'];
const WRONG_TYPES: unknown[] = [42, -1.5, true, null, [], ['a@example.com'], {}, { $ne: '' }];

describe('every string field', () => {
  it.each(FIELDS)('%s %s: control characters and invalid Unicode → 400 naming it', async (url, field, body) => {
    for (const value of CONTROL_AND_BROKEN) {
      // email gets a valid shape around the junk, so only the junk can be the reason.
      const junk = field === 'email' ? `a${value}@example.com` : value;
      expectFieldError(await postJson(url, { ...body, [field]: junk }), field);
    }
  });

  it.each(FIELDS)('%s %s: wrong types → 400 naming it', async (url, field, body) => {
    for (const value of WRONG_TYPES) expectFieldError(await postJson(url, { ...body, [field]: value }), field);
  });

  it.each(FIELDS)('%s %s: 100 KB of it → 413, 10 KB → 400 naming it or a plain 401', async (url, field, body) => {
    expectProblem(await postJson(url, { ...body, [field]: 'x'.repeat(100_000) }), 413, 'payload_too_large');
    const res = await postJson(url, { ...body, [field]: field === 'email' ? `${'x'.repeat(10_000)}@example.com` : 'x'.repeat(10_000) });
    // A password of 10 KB is within what we hash-check (4096 code points is the cap) or not:
    // either way a 4xx that is not a crash; everything else names the field.
    if (res.statusCode === 400) expectFieldError(res, field);
    else expect(res.statusCode, `${url} ${field}: ${res.body}`).toBe(401);
  });
});

describe('overlong tokens everywhere', () => {
  const long = (n: number) => `rt_${'A'.repeat(n)}`;

  it('refresh tokens over 512 characters in a body are named', async () => {
    expectFieldError(await postJson('/auth/refresh', { refresh_token: long(600) }), 'refresh_token');
    expectFieldError(await postJson('/auth/logout', { refresh_token: long(600) }), 'refresh_token');
  });

  it('an 8 KB refresh cookie is just an invalid token', async () => {
    const headers = { cookie: `tessera_refresh=${long(8000)}`, 'x-requested-with': 'fetch' };
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/refresh', headers }), 401, 'invalid_grant');
    expect((await t.fastify.inject({ method: 'POST', url: '/auth/logout', headers })).statusCode).toBe(204);
  });

  it.each([
    ['GET', '/auth/me'],
    ['GET', '/auth/sessions'],
    ['POST', '/auth/logout-all'],
    ['POST', '/auth/password'],
    ['DELETE', '/auth/sessions/00000000-0000-4000-8000-000000000000'],
  ] as const)('%s %s: a 12 KB bearer token → 401 invalid_token', async (method, url) => {
    const res = await t.fastify.inject({ method, url, headers: { authorization: `Bearer ${'e'.repeat(12_000)}.a.b` } });
    expectProblem(res, 401, 'invalid_token');
  });

  it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect'])('%s: a 5000-character token → 400 invalid_request', async (url) => {
    const payload = url === '/oauth/token' ? `grant_type=refresh_token&refresh_token=${long(5000)}` : `token=${long(5000)}`;
    const res = await t.fastify.inject({ method: 'POST', url, payload, headers: { ...FORM, authorization: BASIC } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('control characters in OAuth form values are a 4xx, never a 500', async () => {
    for (const url of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
      const payload = url === '/oauth/token' ? 'grant_type=refresh_token&refresh_token=rt_%00%FF%1B' : 'token=%00%FF%ED%A0%80';
      const res = await t.fastify.inject({ method: 'POST', url, payload, headers: { ...FORM, authorization: BASIC } });
      expect(res.statusCode, `${url}: ${res.body}`).toBeLessThan(500);
      if (res.statusCode >= 400) expect(res.json()).toHaveProperty('error');
    }
  });
});

describe('query strings', () => {
  it.each([
    ['POST', '/auth/login?email=a@example.com&password=secret'],
    ['POST', '/auth/register?x=1'],
    ['POST', '/auth/refresh?refresh_token=rt_x'],
    ['POST', '/auth/logout?next=/'],
    ['GET', '/auth/me?access_token=abc'],
    ['GET', '/auth/sessions?__proto__[admin]=1'],
    ['DELETE', '/auth/sessions/00000000-0000-4000-8000-000000000000?x=%'],
  ] as const)('%s %s → 400 naming the query', async (method, url) => {
    const res = await t.fastify.inject({ method, url, headers: bearer(access), ...(method === 'POST' ? { payload: {} } : {}) });
    expectFieldError(res, 'query');
  });

  it('/oauth/* answers in the RFC 6749 form', async () => {
    const res = await t.fastify.inject({ method: 'POST', url: '/oauth/token?grant_type=refresh_token', payload: 'grant_type=refresh_token&refresh_token=x', headers: FORM });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('public documents still tolerate cache-busting queries', async () => {
    for (const url of ['/.well-known/jwks.json?t=1', '/healthz?probe=1', '/.well-known/oauth-authorization-server?x']) {
      expect((await t.fastify.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
  });
});

describe('structure and framing', () => {
  it('deep nesting within the body limit → 400, in the body and inside a field', async () => {
    const raw = (payload: string) => t.fastify.inject({ method: 'POST', url: '/auth/login', payload, headers: { 'content-type': 'application/json' } });
    expectProblem(await raw('['.repeat(8000) + ']'.repeat(8000)), 400, 'validation_failed');
    expectProblem(await raw('{"a":'.repeat(2500) + '1' + '}'.repeat(2500)), 400, 'validation_failed');
    expectFieldError(await raw(`{"email":${'['.repeat(5000)}${']'.repeat(5000)},"password":"x"}`), 'email');
  });

  it.each(['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/html', 'application/jsonx', 'application/xml', 'application/octet-stream'])(
    'Content-Type %s on a JSON route → 415',
    async (contentType) => {
      const res = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: 'email=a', headers: { 'content-type': contentType } });
      expectProblem(res, 415, 'unsupported_media_type');
    },
  );

  it('a path parameter over the length limit or not decodable → 400 naming the path', async () => {
    for (const url of [`/auth/sessions/${'a'.repeat(300)}`, '/auth/sessions/%E0%A4%A']) {
      const res = await t.fastify.inject({ method: 'DELETE', url, headers: bearer(access) });
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, url).toBeLessThan(500);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
    }
    expectFieldError(await t.fastify.inject({ method: 'DELETE', url: `/auth/sessions/${'a'.repeat(300)}`, headers: bearer(access) }), 'path');
  });

  it('constructor/prototype pollution attempts are refused', async () => {
    const res = await t.fastify.inject({
      method: 'POST',
      url: '/auth/login',
      payload: '{"constructor":{"prototype":{"admin":true}},"email":"a@example.com","password":"x"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(400);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});

describe('request heads over a real socket', () => {
  /** Sends raw bytes; resolves with what came back (the server may close while we write). */
  const raw = (request: string | Buffer) =>
    new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = net.connect(Number(new URL(base).port), '127.0.0.1', () => socket.end(request));
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('error', (err: NodeJS.ErrnoException) => (['ECONNRESET', 'EPIPE'].includes(err.code ?? '') ? resolve(received) : reject(err)));
      socket.on('close', () => resolve(received));
    });
  const status = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);

  it.each([
    ['a 64 KB header', `GET /auth/me HTTP/1.1\r\nHost: x\r\nX-Junk: ${'j'.repeat(65_536)}\r\n\r\n`, 431],
    ['a 64 KB cookie', `POST /auth/refresh HTTP/1.1\r\nHost: x\r\nCookie: tessera_refresh=${'c'.repeat(65_536)}\r\n\r\n`, 431],
    ['a 32 KB URL', `GET /auth/me?${'q'.repeat(32_768)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
    ['3000 headers', `GET /auth/me HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`, 431],
    ['a control character in a header value', 'GET /auth/me HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n', 400],
    ['two Content-Lengths', 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', 400],
    ['a malformed request line', 'GET\u0000/auth/me HTTP/1.1\r\n\r\n', 400],
    ['chunked and Content-Length together (smuggling)', 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ])('%s → %i problem+json, and the server keeps serving', async (_name, request, expected) => {
    const answer = await raw(request);
    expect(status(answer)).toBe(expected);
    expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string; status: number };
    expect(body.status).toBe(expected);
    expect(body.code).toBe(expected === 431 ? 'headers_too_large' : 'validation_failed');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
