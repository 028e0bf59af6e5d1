// What an INTROSPECTION_CLIENTS client may do at /oauth/introspect and /oauth/revoke: its
// permissions, the audit line of a failed authentication, and the per-client rate limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { me, signUp } from '../helpers/flows.ts';

const CLIENTS = {
  reader: 'reader-secret',
  revoker: 'revoker-secret',
  legacy: 'legacy-secret',
  feed: 'feed-secret',
};
const INTROSPECTION_CLIENTS = 'reader:reader-secret:introspect,revoker:revoker-secret:revoke,legacy:legacy-secret,feed:feed-secret:revocations';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function call(t: TestApp, endpoint: 'introspect' | 'revoke', client: keyof typeof CLIENTS | [string, string], token: string) {
  const [id, secret] = Array.isArray(client) ? client : [client, CLIENTS[client]];
  return t.fastify.inject({
    method: 'POST',
    url: `/oauth/${endpoint}`,
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    payload: `token=${encodeURIComponent(token)}`,
  });
}

describe('INTROSPECTION_CLIENTS permissions at the OAuth endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { INTROSPECTION_CLIENTS } });
  });
  afterAll(() => t.close());

  it('introspect needs `introspect`, revoke needs `revoke`; an entry without permissions holds both', async () => {
    const { tokens } = await signUp(t.fastify);
    const expected = {
      introspect: { reader: 200, revoker: 403, legacy: 200, feed: 403 },
      revoke: { reader: 403, revoker: 200, legacy: 200, feed: 403 },
    } as const;
    for (const endpoint of ['introspect', 'revoke'] as const) {
      for (const [client, status] of Object.entries(expected[endpoint])) {
        // Refused revocations must not revoke: each revoke gets a fresh token.
        const token = endpoint === 'revoke' ? (await signUp(t.fastify)).tokens.access_token : tokens.access_token;
        const res = await call(t, endpoint, client as keyof typeof CLIENTS, token);
        expect(res.statusCode, `${client} at /oauth/${endpoint}`).toBe(status);
        if (status === 403) {
          expect(res.json()).toMatchObject({ error: 'unauthorized_client' });
          expect((await me(t.fastify, token)).statusCode).toBe(200);
        }
        if (endpoint === 'revoke' && status === 200) expect((await me(t.fastify, token)).json()).toMatchObject({ code: 'token_revoked' });
      }
    }
  });

  it('a failed client authentication is audited as client.auth_failed, without the secret', async () => {
    const res = await call(t, 'introspect', ['reader', 'a wrong secret'], 'anything');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
    const line = t.logs().find((l) => l.event === 'client.auth_failed' && l.realm === 'oauth');
    expect(line).toMatchObject({ client_id: 'reader', reason: 'wrong_credentials', user_id: null });
    expect(JSON.stringify(t.logs())).not.toContain('a wrong secret');
  });
});

describe('RATE_LIMIT_CLIENT_PER_MINUTE', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { INTROSPECTION_CLIENTS, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_CLIENT_PER_MINUTE: '3' } });
  });
  afterAll(() => t.close());

  it('limits each client (per address) on its own: a busy client gets slow_down, another is served', async () => {
    const { tokens } = await signUp(t.fastify);
    for (let i = 0; i < 3; i++) expect((await call(t, 'introspect', 'reader', tokens.access_token)).statusCode).toBe(200);
    const limited = await call(t, 'introspect', 'reader', tokens.access_token);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: 'slow_down' });
    expect((await call(t, 'introspect', 'legacy', tokens.access_token)).statusCode).toBe(200);
    // Revocation is counted apart from introspection.
    expect((await call(t, 'revoke', 'legacy', 'unknown-token')).statusCode).toBe(200);
  });
});
