// openapi.yaml is the published contract: these tests fail when it and the app drift apart
// (routes, error codes, references, and the shape of a few real answers).
import fs from 'node:fs';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ERROR_STATUS } from '../src/errors.ts';
import { OPENAPI_PATH } from '../src/http/routes/docs.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { bearer, login, PASSWORD, register, signUp, uniqueEmail } from './helpers/flows.ts';
import { linkOf } from './helpers/smtp.ts';
import { codeFor, nextStep } from './helpers/totp.ts';

interface SchemaObject {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaObject>;
  required?: string[];
  enum?: unknown[];
  items?: SchemaObject;
  oneOf?: SchemaObject[];
}
interface ResponseObject {
  $ref?: string;
  description?: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema?: SchemaObject }>;
}
interface Operation {
  security?: Record<string, string[]>[];
  responses: Record<string, ResponseObject>;
}
interface Spec {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, SchemaObject> };
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const specText = fs.readFileSync(OPENAPI_PATH, 'utf8');
const spec = parse(specText) as Spec;

/** Resolves a local JSON pointer (`#/a/b`); undefined when it points nowhere. */
function resolvePointer(ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = spec;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function deref<T extends { $ref?: string }>(node: T): T {
  let current = node;
  for (let hops = 0; current.$ref !== undefined; hops++) {
    if (hops > 20) throw new Error(`$ref cycle at ${current.$ref}`);
    const target = resolvePointer(current.$ref);
    if (target === undefined) throw new Error(`unresolved $ref ${current.$ref}`);
    current = target as T;
  }
  return current;
}

function collectRefs(node: unknown, at: string, out: { ref: string; at: string }[]): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => collectRefs(item, `${at}/${i}`, out));
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push({ ref: value, at });
      else collectRefs(value, `${at}/${key}`, out);
    }
  }
}

function specOperations(): { key: string; path: string; method: string; op: Operation }[] {
  return Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`, path, method, op })),
  );
}

/** Routes the docs need not list: automatic HEAD, CORS preflight, Swagger UI's assets. */
const undocumented = (route: { method: string; url: string }) =>
  route.method === 'HEAD' || route.method === 'OPTIONS' || route.url.startsWith('/docs/');

/** The documented response for a real answer, checked for status, media type and top-level keys. */
function expectDocumented(res: LightMyRequestResponse, method: string, path: string): ResponseObject {
  const op = spec.paths[path]?.[method];
  expect(op, `${method.toUpperCase()} ${path} is documented`).toBeDefined();
  const documented = op!.responses[String(res.statusCode)];
  expect(documented, `${method.toUpperCase()} ${path} documents ${res.statusCode}`).toBeDefined();
  const response = deref(documented!);
  const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
  const content = response.content?.[mediaType];
  expect(content, `${method.toUpperCase()} ${path} ${res.statusCode} documents ${mediaType}`).toBeDefined();
  expectShape(deref(content!.schema!), res.json(), `${method.toUpperCase()} ${path} ${res.statusCode}`);
  return response;
}

/** Every key of `value` is a declared property; every required property is present (of one `oneOf` alternative). */
function expectShape(schema: SchemaObject, value: unknown, where: string): void {
  if (schema.oneOf) {
    const fits = schema.oneOf.map(deref).filter((alternative) => {
      const keys = Object.keys(value as object);
      return keys.every((k) => k in (alternative.properties ?? {})) && (alternative.required ?? []).every((k) => keys.includes(k));
    });
    expect(fits.length, `${where}: matches exactly one oneOf alternative`).toBe(1);
    return;
  }
  expect(value, where).toBeTypeOf('object');
  const keys = Object.keys(value as object);
  const declared = Object.keys(schema.properties ?? {});
  expect(keys.filter((k) => !declared.includes(k)), `${where}: undocumented keys`).toEqual([]);
  expect((schema.required ?? []).filter((k) => !keys.includes(k)), `${where}: missing required keys`).toEqual([]);
}

/** A problem answer: its code is documented in that response's description. */
function expectDocumentedProblem(res: LightMyRequestResponse, method: string, path: string, code: string): void {
  const response = expectDocumented(res, method, path);
  expect((res.json() as { code: string }).code).toBe(code);
  expect(response.description, `${method.toUpperCase()} ${path} ${res.statusCode} mentions ${code}`).toContain(`\`${code}\``);
}

describe('openapi.yaml', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ADMIN_CLIENTS: 'ops:ops-secret' } });
  });
  afterAll(() => t.close());

  it('is OpenAPI 3.1', () => {
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/);
  });

  it('documents exactly the routes the app registers', () => {
    const appRoutes = new Set(t.app.routes.filter((r) => !undocumented(r)).map((r) => `${r.method} ${r.url}`));
    const specRoutes = new Set(specOperations().map((o) => o.key));
    expect([...specRoutes].filter((r) => !appRoutes.has(r)), 'in openapi.yaml but not registered').toEqual([]);
    expect([...appRoutes].filter((r) => !specRoutes.has(r)), 'registered but not in openapi.yaml').toEqual([]);
  });

  it('lists exactly the error codes of src/errors.ts', () => {
    const documented = spec.components.schemas.ErrorCode?.enum as string[];
    expect([...documented].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
    expect(spec.components.schemas.Problem?.properties?.code?.$ref).toBe('#/components/schemas/ErrorCode');
  });

  it('has no dangling $ref', () => {
    const refs: { ref: string; at: string }[] = [];
    collectRefs(spec, '#', refs);
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter(({ ref }) => resolvePointer(ref) === undefined)).toEqual([]);
  });

  it('documents WWW-Authenticate on the 401 of every bearer route', () => {
    const bearerOps = specOperations().filter(({ op }) => op.security?.some((s) => 'bearerAuth' in s));
    expect(bearerOps.length).toBeGreaterThan(0);
    for (const { key, op } of bearerOps) {
      const unauthorized = op.responses['401'];
      expect(unauthorized, `${key} documents 401`).toBeDefined();
      expect(Object.keys(deref(unauthorized!).headers ?? {}), `${key} 401 headers`).toContain('WWW-Authenticate');
    }
  });

  it('is served as written at /openapi.yaml and rendered at /docs', async () => {
    const yaml = await t.fastify.inject({ method: 'GET', url: '/openapi.yaml' });
    expect(yaml.statusCode).toBe(200);
    expect(yaml.headers['content-type']).toMatch(/^application\/yaml/);
    expect(yaml.body).toBe(specText);

    const docs = await t.fastify.inject({ method: 'GET', url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/^text\/html/);
    expect(docs.body).toMatch(/<html/i);
  });

  describe('real answers match their documented shape', () => {
    it('register 201, login 200 (body and cookie delivery)', async () => {
      const email = uniqueEmail('openapi');
      const registered = await t.fastify.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } });
      expect(registered.statusCode).toBe(201);
      expectDocumented(registered, 'post', '/auth/register');

      const body = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } });
      expect(body.statusCode).toBe(200);
      expectDocumented(body, 'post', '/auth/login');
      expect(body.json()).toHaveProperty('refresh_token');

      const cookie = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD, token_delivery: 'cookie' } });
      expect(cookie.statusCode).toBe(200);
      expectDocumented(cookie, 'post', '/auth/login');
      expect(cookie.json()).not.toHaveProperty('refresh_token');
    });

    it('a validation error 400', async () => {
      const res = await t.fastify.inject({ method: 'POST', url: '/auth/register', payload: { email: 'not-an-email', password: 'x', extra: 1 } });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expectDocumentedProblem(res, 'post', '/auth/register', 'validation_failed');
      expect((res.json() as { errors: unknown[] }).errors.length).toBeGreaterThan(0);
    });

    it('a taken email 409', async () => {
      const user = await register(t.fastify);
      const res = await t.fastify.inject({ method: 'POST', url: '/auth/register', payload: { email: user.email, password: PASSWORD } });
      expectDocumentedProblem(res, 'post', '/auth/register', 'email_taken');
    });

    it('/auth/me 401 with WWW-Authenticate', async () => {
      const res = await t.fastify.inject({ method: 'GET', url: '/auth/me' });
      expectDocumentedProblem(res, 'get', '/auth/me', 'invalid_token');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
    });

    it('cookie refresh without X-Requested-With 403', async () => {
      const res = await t.fastify.inject({ method: 'POST', url: '/auth/refresh' });
      expectDocumentedProblem(res, 'post', '/auth/refresh', 'csrf_rejected');
    });

    it('jwks 200, then 304 for its ETag', async () => {
      const res = await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect(res.statusCode).toBe(200);
      expectDocumented(res, 'get', '/.well-known/jwks.json');
      const jwk = deref(spec.components.schemas.Jwk!);
      for (const key of (res.json() as { keys: unknown[] }).keys) expectShape(jwk, key, 'JWKS key');
      expect(res.headers['cache-control']).toMatch(/max-age=\d+/);

      const notModified = await t.fastify.inject({
        method: 'GET',
        url: '/.well-known/jwks.json',
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      expect(notModified.statusCode).toBe(304);
      expect(spec.paths['/.well-known/jwks.json']?.get?.responses['304']).toBeDefined();
    });

    it('second factor: enroll, confirm, login challenge, verify, step-up, and their problems', async () => {
      const { user, tokens } = await signUp(t.fastify);
      const post = (url: string, payload: unknown, headers: Record<string, string> = bearer(tokens.access_token)) =>
        t.fastify.inject({ method: 'POST', url, payload: payload as object, headers });
      const enroll = await post('/auth/mfa/totp/enroll', { password: PASSWORD });
      expectDocumented(enroll, 'post', '/auth/mfa/totp/enroll');
      const { secret } = enroll.json<{ secret: string }>();
      expectDocumentedProblem(await post('/auth/mfa/totp/confirm', { code: codeFor(secret, t.clock.now() - 600_000) }), 'post', '/auth/mfa/totp/confirm', 'invalid_mfa_code');
      const confirm = await post('/auth/mfa/totp/confirm', { code: codeFor(secret, t.clock.now()) });
      expectDocumented(confirm, 'post', '/auth/mfa/totp/confirm');
      expectDocumentedProblem(await post('/auth/mfa/totp/enroll', { password: PASSWORD }), 'post', '/auth/mfa/totp/enroll', 'mfa_already_enabled');

      const challenge = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } });
      expectDocumented(challenge, 'post', '/auth/login');
      expectDocumentedProblem(await post('/auth/mfa/verify', { mfa_token: 'mfa_unknown', code: '123456' }, {}), 'post', '/auth/mfa/verify', 'invalid_mfa_token');
      t.clock.set(nextStep(t.clock.now()) + 1_000);
      const verified = await post('/auth/mfa/verify', { mfa_token: challenge.json<{ mfa_token: string }>().mfa_token, code: codeFor(secret, t.clock.now()) }, {});
      expectDocumented(verified, 'post', '/auth/mfa/verify');
      t.clock.set(nextStep(t.clock.now()) + 1_000);
      const raised = await post('/auth/mfa/step-up', { code: codeFor(secret, t.clock.now()) });
      expectDocumented(raised, 'post', '/auth/mfa/step-up');
      const other = await login(t.fastify, (await register(t.fastify)).email);
      expectDocumentedProblem(await post('/auth/mfa/totp/confirm', { code: '123456' }, bearer(other.access_token)), 'post', '/auth/mfa/totp/confirm', 'mfa_not_enabled');
    });

    it('admin API: a user, a page, sessions ended, and its 401 and 404', async () => {
      const admin = { authorization: `Basic ${Buffer.from('ops:ops-secret').toString('base64')}` };
      const created = await t.fastify.inject({ method: 'POST', url: '/admin/users', headers: admin, payload: { email: uniqueEmail('openapi-admin'), password: PASSWORD, roles: ['x'] } });
      expectDocumented(created, 'post', '/admin/users');
      const id = created.json<{ id: string }>().id;
      expectDocumented(await t.fastify.inject({ method: 'GET', url: '/admin/users?limit=1', headers: admin }), 'get', '/admin/users');
      expectDocumented(await t.fastify.inject({ method: 'PUT', url: `/admin/users/${id}/roles`, headers: admin, payload: { roles: [] } }), 'put', '/admin/users/{id}/roles');
      expectDocumented(await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${id}/sessions`, headers: admin }), 'delete', '/admin/users/{id}/sessions');
      expectDocumentedProblem(await t.fastify.inject({ method: 'GET', url: `/admin/users/${id}` }), 'get', '/admin/users/{id}', 'invalid_client');
      expectDocumentedProblem(
        await t.fastify.inject({ method: 'GET', url: '/admin/users/00000000-0000-4000-8000-000000000000', headers: admin }),
        'get',
        '/admin/users/{id}',
        'not_found',
      );
    });

    it('account recovery: forgot 202, verify 200, reset 200 then 410, bad link 400, delete 204, unverified login 403', async () => {
      const post = (url: string, payload: unknown) => t.fastify.inject({ method: 'POST', url, payload: payload as object });
      const { user, tokens } = await signUp(t.fastify);
      const forgot = await post('/auth/password/forgot', { email: user.email });
      expect(forgot.statusCode).toBe(202);
      expectDocumented(forgot, 'post', '/auth/password/forgot');
      await t.app.mail.drainOnce();
      // The embedded default wrote the mails as .eml files: read the links back.
      const files = (await fsp.readdir(t.config.mail.dir)).filter((f) => f.endsWith('.eml'));
      const tokenOf = async (kind: string) => {
        const file = files.find((f) => f.endsWith(`-${kind}.eml`))!;
        return linkOf((await simpleParser(await fsp.readFile(path.join(t.config.mail.dir, file)))).text ?? '').token!;
      };
      const verified = await post('/auth/email/verify', { token: await tokenOf('email_verification') });
      expect(verified.statusCode).toBe(200);
      expectDocumented(verified, 'post', '/auth/email/verify');
      const resetToken = await tokenOf('password_reset');
      const reset = await post('/auth/password/reset', { token: resetToken, new_password: 'a new passphrase here' });
      expect(reset.statusCode).toBe(200);
      expectDocumented(reset, 'post', '/auth/password/reset');
      expectDocumentedProblem(await post('/auth/password/reset', { token: resetToken, new_password: 'a new passphrase here' }), 'post', '/auth/password/reset', 'mail_token_used');
      expectDocumentedProblem(await post('/auth/email/change/confirm', { token: `mt_${'A'.repeat(43)}` }), 'post', '/auth/email/change/confirm', 'mail_token_invalid');
      const resend = await t.fastify.inject({ method: 'POST', url: '/auth/email/verify/resend', headers: bearer((reset.json() as { access_token: string }).access_token) });
      expectDocumentedProblem(resend, 'post', '/auth/email/verify/resend', 'email_already_verified');
      expectDocumentedProblem(
        await t.fastify.inject({ method: 'DELETE', url: '/auth/account', payload: { password: PASSWORD }, headers: bearer(tokens.access_token) }),
        'delete',
        '/auth/account',
        'token_revoked',
      );

      const strict = await createTestApp({ db: t.testDb, env: { REQUIRE_VERIFIED_EMAIL: 'true' } });
      try {
        const unverified = await register(strict.fastify);
        const refused = await strict.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: unverified.email, password: PASSWORD } });
        expectDocumentedProblem(refused, 'post', '/auth/login', 'email_not_verified');
      } finally {
        await strict.close();
      }
    });

    it('discovery metadata 200', async () => {
      for (const path of ['/.well-known/oauth-authorization-server']) {
        const res = await t.fastify.inject({ method: 'GET', url: path });
        expect(res.statusCode).toBe(200);
        expectDocumented(res, 'get', path);
      }
    });
  });
});
