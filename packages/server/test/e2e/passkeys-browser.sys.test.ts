// Passkeys end to end (issue 21): the example SPA in headless Chromium with a CDP virtual
// authenticator (CTAP2, resident keys, user verification), Tessera replicas behind nginx.
// The passkey is added through one replica, then used through the balancer (nginx's round
// robin sends a ceremony's options and its answer to different replicas): the email field's
// autofill, the sign-in button in another browser holding a copy of it (that browser reports
// no autofill, so no waiting conditional request races the button), the second factor of a
// password login, a step-up, and its removal.
import type { CDPSession, Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { chromium, nginx, skipUnless } from '../../../../test/lib/requirements.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { useSpaCluster } from './spa-cluster.ts';

const state = (page: Page, value: string) => page.locator(`#status[data-state="${value}"]`).waitFor();
const amr = async (page: Page) => ((await page.textContent('#token-amr')) ?? '').split(' ').filter(Boolean);
const authTime = async (page: Page) => Number(await page.getAttribute('#token-auth-time', 'data-epoch'));

async function passwordLogin(page: Page, email: string) {
  await page.fill('#login-email', email);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-button');
}

/** A platform authenticator with a user-verifying sensor, as a laptop's or a phone's. */
async function virtualAuthenticator(page: Page) {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  const credentialsOf = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  return {
    credentials: credentialsOf,
    /** A copy of a passkey from another authenticator (its private key and counter). */
    add: (credential: Awaited<ReturnType<typeof credentialsOf>>[number]) => cdp.send('WebAuthn.addCredential', { authenticatorId, credential }),
  };
}

skipUnless(chromium, nginx)('passkeys through the example SPA on replicas behind nginx (Chromium, virtual authenticator)', () => {
  const stack = useSpaCluster('passkeys-e2e', {
    // Two replicas: enough for nginx's round robin to split a flow, light on a shared 2-core machine.
    replicas: 2,
    env: (spaUrl) => ({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: spaUrl }),
  });

  it('adds a passkey on one replica; signs in with it through nginx (button, autofill), as a second factor and for a step-up; removes it', async () => {
    const s = stack();
    const email = uniqueEmail('passkey');
    const registered = await fetch(`${s.replica(0)}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(registered.status, await registered.clone().text()).toBe(201);

    const page = await s.newPage();
    const authenticator = await virtualAuthenticator(page);

    // 1. Replica 0 alone (the page talks to it directly): a password login adds a passkey.
    await s.open('/', s.replica(0), page);
    await state(page, 'logged-out');
    await page.locator('#passkey-login-button').waitFor({ state: 'visible' });
    await passwordLogin(page, email);
    await state(page, 'logged-in');
    expect(await amr(page)).toEqual(['pwd']);
    await page.fill('#passkey-name', 'Test laptop');
    await page.click('#passkey-add-button');
    await expect.poll(() => page.locator('#passkey-list li').count()).toBe(1);
    expect(await page.textContent('#passkey-list li')).toContain('Test laptop');
    const [credential] = await authenticator.credentials();
    expect(credential).toMatchObject({ rpId: 'localhost', isResidentCredential: true });

    // 2. Through nginx, the autofill: the login page's waiting request is answered by the
    //    authenticator at once, as a user picking the passkey under the email field would.
    await page.click('#logout-button');
    await state(page, 'logged-out');
    await s.open('/', s.api, page);
    await page.locator('#passkey-autofill[data-state="used"]').waitFor({ state: 'attached' });
    await state(page, 'logged-in');
    expect(await page.textContent('#me-email')).toBe(email);
    // A device-bound passkey (hwk), the user present and verified (mfa): no password in it.
    expect(await amr(page)).toEqual(expect.arrayContaining(['hwk', 'user', 'mfa']));
    expect(await amr(page)).not.toContain('pwd');

    // 3. Another browser, without passkey autofill, holding a copy of the passkey (as a synced
    //    one would be): "Sign in with a passkey", through nginx.
    const other = await s.newPage();
    await other.addInitScript(() => {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
    const copy = await virtualAuthenticator(other);
    const [used] = await authenticator.credentials();
    await copy.add(used!);
    await s.open('/', s.api, other);
    await state(other, 'logged-out');
    expect(await other.getAttribute('#passkey-autofill', 'data-state')).toBe('off');
    await other.click('#passkey-login-button');
    await state(other, 'logged-in');
    expect(await other.textContent('#me-email')).toBe(email);
    expect(await amr(other)).toEqual(expect.arrayContaining(['hwk', 'user']));

    // 4. The second factor: a password login of an account with a passkey asks for it.
    await other.click('#logout-button');
    await state(other, 'logged-out');
    await passwordLogin(other, email);
    await state(other, 'mfa-required');
    await other.locator('#mfa-passkey').waitFor({ state: 'visible' });
    await other.click('#mfa-passkey');
    await state(other, 'logged-in');
    expect(await amr(other)).toEqual(expect.arrayContaining(['pwd', 'hwk']));

    // 5. Step-up: the same session gets a fresh auth_time.
    const before = await authTime(other);
    expect(before).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, Math.max(0, (before + 1) * 1000 + 100 - Date.now())));
    await other.locator('#step-up-passkey-button').waitFor({ state: 'visible' });
    await other.click('#step-up-passkey-button');
    await expect.poll(() => authTime(other)).toBeGreaterThan(before);
    await expect.poll(() => other.textContent('#error')).toBe('confirmed');

    // 6. Removed: gone from the list, and the authenticator's copy no longer signs in.
    await other.click('#passkey-list button[data-remove-passkey]');
    await expect.poll(() => other.locator('#passkey-list li').count()).toBe(0);
    await expect.poll(() => other.textContent('#error')).toBe('passkey removed');
    await other.click('#logout-button');
    await state(other, 'logged-out');
    await other.click('#passkey-login-button');
    await expect.poll(() => other.textContent('#error')).toMatch(/^401 /);
    expect(await other.getAttribute('#status', 'data-state')).toBe('logged-out');
  }, 180_000);
});
