// The GitHub (plain OAuth 2.0) and Apple (JWT client secret, form_post) presets, against
// stand-ins that follow the providers' documented responses (helpers/standins.ts).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/acme.ts';
import { createTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { decodeJwt, me } from '../helpers/flows.ts';
import { APP, pkce, redeem, start, TESSERA } from '../helpers/social.ts';
import { startApple, startGitHub, type AppleStandIn, type GitHubStandIn } from '../helpers/standins.ts';

let github: GitHubStandIn;
let apple: AppleStandIn;
let t: TestApp;

beforeAll(async () => {
  github = await startGitHub();
  apple = await startApple();
  const keyFile = path.join(tempDir('apple-key-'), 'AuthKey.p8');
  fs.writeFileSync(keyFile, apple.privateKeyPem);
  t = await createTestApp({
    db: 'pglite',
    env: {
      ...github.env(),
      PROVIDERS: 'github,apple',
      PROVIDER_APPLE_CLIENT_ID: apple.clientId,
      PROVIDER_APPLE_ISSUER: apple.url,
      PROVIDER_APPLE_TEAM_ID: apple.teamId,
      PROVIDER_APPLE_KEY_ID: apple.keyId,
      PROVIDER_APPLE_PRIVATE_KEY_FILE: keyFile,
      ISSUER: TESSERA,
      APP_URL: APP,
    },
  });
}, 180_000);

afterAll(async () => {
  await t?.close();
  await github?.close();
  await apple?.close();
});

async function githubSignIn() {
  const codes = pkce();
  const res = await start(t.fastify, { name: 'github', challenge: codes.challenge });
  expect(res.statusCode, res.body).toBe(200);
  const url = await new Browser().followUntil(res.json<{ authorization_url: string }>().authorization_url, TESSERA);
  const cb = await t.fastify.inject({ method: 'GET', url: url.pathname + url.search });
  expect(cb.statusCode, cb.body).toBe(302);
  return { location: new URL(cb.headers.location as string), verifier: codes.verifier };
}

describe('github (plain OAuth 2.0)', () => {
  it('signs up with the verified primary email from /user/emails', async () => {
    github.user = { id: 1001, login: 'octo' };
    github.emails = [
      { email: 'octo@users.noreply.github.com', primary: false, verified: true, visibility: null },
      { email: 'Octo@Example.com', primary: true, verified: true, visibility: 'public' },
    ];
    const { location, verifier } = await githubSignIn();
    const res = await redeem(t.fastify, location.searchParams.get('code')!, verifier);
    expect(res.statusCode, res.body).toBe(200);
    const access = res.json<{ access_token: string }>().access_token;
    expect(decodeJwt(access).payload.idp).toBe('github');
    expect((await me(t.fastify, access)).json()).toMatchObject({ email: 'octo@example.com', email_verified: true });
  });

  it('refuses a new account when the primary email is not verified (email_required)', async () => {
    github.user = { id: 1002, login: 'unverified' };
    github.emails = [{ email: 'new@example.com', primary: true, verified: false, visibility: 'public' }];
    const { location } = await githubSignIn();
    expect(location.searchParams.get('error')).toBe('email_required');
  });
});

describe('apple (JWT client secret, form_post)', () => {
  it('signs in: the stand-in accepts the ES256 client secret, the callback takes the form post', async () => {
    const codes = pkce();
    const res = await start(t.fastify, { name: 'apple', challenge: codes.challenge });
    expect(res.statusCode, res.body).toBe(200);
    // The stand-in answers what Apple would post to the callback.
    const answer = await (await fetch(res.json<{ authorization_url: string }>().authorization_url)).json() as { form_post_to: string; code: string; state: string };
    expect(answer.form_post_to).toBe(`${TESSERA}/auth/providers/apple/callback`);
    const posted = await t.fastify.inject({
      method: 'POST',
      url: '/auth/providers/apple/callback',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ code: answer.code, state: answer.state, user: '{"name":{"firstName":"A"}}' }).toString(),
    });
    expect(posted.statusCode, posted.body).toBe(303);
    const location = new URL(posted.headers.location as string);
    expect(apple.secretChecks).toEqual(['accepted']);
    const tokens = await redeem(t.fastify, location.searchParams.get('code')!, codes.verifier);
    expect(tokens.statusCode, tokens.body).toBe(200);
    const access = tokens.json<{ access_token: string }>().access_token;
    expect(decodeJwt(access).payload.idp).toBe('apple');
    // Apple's email_verified is the string "true".
    expect((await me(t.fastify, access)).json()).toMatchObject({ email: apple.account.email, email_verified: true });
  });
});
