// Tessera example SPA, built on @tessera/client: cookie delivery of the refresh token,
// access token in memory only, one refresh for all open tabs.
//
// - The refresh token lives in an HttpOnly; Secure; SameSite=Strict cookie set by the API.
//   This script never sees it; the client only asks the browser to send it.
// - The access token lives in the client's memory and nowhere else: not in localStorage,
//   sessionStorage or a cookie. A reload gets it from another open tab of this app, or from
//   POST /auth/refresh (the cookie is what survives the reload).
// - The client refreshes shortly before the access token expires, under a Web Lock shared
//   by every tab, and hands the new token to the other tabs: ten tabs, one refresh. A logout
//   in one tab signs out all of them.
//
// A second factor: a login of an account with an authenticator app answers mfa_required and
// an mfa_token (single use, 5 minutes) instead of a session; the code form sends it back with
// the app's code or a recovery code. Signed in, the user adds the app (password → secret and
// otpauth URI → a first code → ten recovery codes, shown once) or removes it.
//
// Mailed links (password reset, email verification, email change) land on /reset-password,
// /verify-email and /confirm-email-change with their secret in the fragment (#token=…):
// browsers never send a fragment to a server, nor put it in a Referer. The page takes it
// out of the address bar (and the history) at once, then posts it to the API.
//
// Passkeys (passkeys-ui.js) and sign-in with a provider (providers-ui.js) live in modules of
// their own; this file wires them to the views.
//
// serve.ts serves the built package (packages/client/dist) under /vendor/tessera-client/;
// an app with a bundler would write `import { TesseraClient } from '@tessera/client'`.
import { TesseraClient, TesseraError } from './vendor/tessera-client/index.js';
import { initPasskeys, offerSecondFactor, resetPasskeyView, showPasskeys, startAutofill, stopAutofill } from './passkeys-ui.js';
import { CALLBACK_PATH, completeSignIn, initProviders, showIdentities } from './providers-ui.js';

const api = resolveApi();
const auth = new TesseraClient({ baseUrl: api, refreshMarginSeconds: 60 });
let refreshCount = 0;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

function resolveApi() {
  const fromQuery = new URLSearchParams(location.search).get('api');
  const fromConfig = window.TESSERA_CONFIG && window.TESSERA_CONFIG.api;
  const raw = fromQuery || fromConfig || 'http://localhost:3000';
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('api must be an http(s) URL');
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** The access token's claims: public (no secret in them), shown to say how this session signed in. */
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return {};
  }
}

/** A feature the Tessera behind this page does not have (404) leaves its part of the page empty. */
const unlessMissing = (what) => (err) => {
  if (!(err instanceof TesseraError && err.status === 404)) showError(`${what}: ${describe(err)}`);
};

function describe(err) {
  return err instanceof TesseraError ? `${err.status} ${err.code}: ${err.message}` : String(err && err.message ? err.message : err);
}

// --- session events ------------------------------------------------------------------------

auth.on('session', ({ accessToken, expiresAt }) => {
  $('token-expires').textContent = new Date(expiresAt).toLocaleTimeString();
  const claims = claimsOf(accessToken);
  $('token-amr').textContent = (claims.amr || []).join(' ');
  $('token-idp').textContent = claims.idp ? ` via ${claims.idp}` : '';
  $('token-auth-time').dataset.epoch = String(claims.auth_time ?? '');
  $('token-auth-time').textContent = claims.auth_time ? new Date(claims.auth_time * 1000).toLocaleTimeString() : '';
  refreshCount += 1;
  $('token-count').textContent = String(refreshCount);
  if ($('status').dataset.state !== 'logged-in') void loadMe();
});

auth.on('sessionend', ({ reason }) => {
  $('me-email').textContent = '';
  $('me-id').textContent = '';
  showLoggedOut(reason === 'logout' ? '' : `session ended: ${reason}`);
});

auth.on('error', (err) => showError(`refresh failed, retrying: ${describe(err)}`));

// --- actions ---------------------------------------------------------------------------------

async function loadMe() {
  const res = await auth.fetch(`${api}/auth/me`);
  if (!res.ok) {
    if (res.status === 401) showLoggedOut();
    else showError(`me: ${res.status}`);
    return;
  }
  const me = await res.json();
  $('me-email').textContent = me.email;
  $('me-id').textContent = me.id;
  $('me-verified').textContent = me.email_verified ? 'yes' : 'no';
  $('resend-button').hidden = me.email_verified;
  // The account page shows even when the second factor's status cannot be read.
  await showMfaStatus().catch((err) => showError(`two-factor status: ${describe(err)}`));
  await Promise.all([showPasskeys().catch(unlessMissing('passkeys')), showIdentities().catch(unlessMissing('linked accounts'))]);
  showLoggedIn();
}

async function login(event) {
  event.preventDefault();
  clearError();
  const email = /** @type {HTMLInputElement} */ ($('login-email')).value;
  const password = /** @type {HTMLInputElement} */ ($('login-password'));
  const remember = /** @type {HTMLInputElement} */ ($('login-remember')).checked;
  try {
    const result = await auth.login({ email, password: password.value, remember });
    if (result.status === 'mfa_required') askForSecondFactor(result.mfaToken, result.expiresIn, result.methods);
  } finally {
    password.value = '';
  }
}

// --- second factor ---------------------------------------------------------------------------

/** The login waiting for its second factor: the mfa_token (kept in memory only) and its expiry timer. */
let pendingMfa = null;

function askForSecondFactor(mfaToken, expiresIn, methods = []) {
  forgetPendingMfa();
  stopAutofill();
  // The token dies after expiresIn seconds at the server: go back to the password form then,
  // rather than let the user type a code that can only be refused.
  pendingMfa = { mfaToken, timer: setTimeout(() => mfaExpired(), expiresIn * 1000) };
  useRecoveryCode(false);
  offerSecondFactor(methods, (verify) => completeSecondFactor(verify).catch((err) => showError(describe(err))));
  setStatus('mfa-required');
  $('logged-out').hidden = true;
  $('mfa').hidden = false;
  $('mfa-code').focus();
}

function forgetPendingMfa() {
  if (pendingMfa) clearTimeout(pendingMfa.timer);
  pendingMfa = null;
  /** @type {HTMLInputElement} */ ($('mfa-code')).value = '';
  /** @type {HTMLInputElement} */ ($('mfa-recovery-code')).value = '';
}

function mfaExpired() {
  showLoggedOut('The sign-in took too long: log in again.');
}

/** Shows the recovery-code input instead of the code input (or back). */
function useRecoveryCode(on) {
  $('mfa-code-label').hidden = on;
  $('mfa-recovery-label').hidden = !on;
  /** @type {HTMLInputElement} */ ($('mfa-code')).required = !on;
  /** @type {HTMLInputElement} */ ($('mfa-recovery-code')).required = on;
  $('mfa-switch').textContent = on ? 'Use a code from the app' : 'Use a recovery code';
}

async function verifySecondFactor(event) {
  event.preventDefault();
  clearError();
  const code = /** @type {HTMLInputElement} */ ($('mfa-code'));
  const recovery = /** @type {HTMLInputElement} */ ($('mfa-recovery-code'));
  const factor = $('mfa-recovery-label').hidden ? { code: code.value } : { recoveryCode: recovery.value };
  await completeSecondFactor((mfaToken) => auth.verifyMfa({ mfaToken, ...factor }));
}

/** Sends the pending login's mfa_token with a factor (`verify`: a code, a recovery code or a passkey). */
async function completeSecondFactor(verify) {
  if (!pendingMfa) return mfaExpired();
  try {
    // Success: the session event loads /auth/me and shows the signed-in view.
    await verify(pendingMfa.mfaToken);
    forgetPendingMfa();
  } catch (err) {
    /** @type {HTMLInputElement} */ ($('mfa-code')).value = '';
    /** @type {HTMLInputElement} */ ($('mfa-recovery-code')).value = '';
    if (err instanceof TesseraError && err.code === 'passkey_cancelled') return showError('no passkey was used: try again, or use a code');
    // Expired, used, or spent by too many wrong codes: only a new login helps.
    if (err instanceof TesseraError && err.code === 'invalid_mfa_token') return showLoggedOut(`The sign-in expired (${describe(err)}): log in again.`);
    throw err;
  }
}

/** A TOTP code is digits (spaces allowed); anything else is taken for a recovery code. */
function secondFactorOf(value) {
  return /^[0-9 ]+$/.test(value) ? { code: value } : { recoveryCode: value };
}

/** A form's submit: `action` gets the values of the `ids` fields, which are emptied afterwards (passwords and codes do not linger in the page). */
async function submitFields(event, ids, action) {
  event.preventDefault();
  clearError();
  const inputs = ids.map((id) => /** @type {HTMLInputElement} */ ($(id)));
  try {
    await action(...inputs.map((input) => input.value));
  } finally {
    for (const input of inputs) input.value = '';
  }
}

const enrollTotp = (event) =>
  submitFields(event, ['mfa-enroll-password'], async (password) => {
    const { secret, otpauthUri } = await auth.enrollTotp({ password });
    $('mfa-secret').textContent = secret;
    $('mfa-otpauth-uri').textContent = otpauthUri;
    $('mfa-confirm-form').hidden = false;
    $('mfa-confirm-code').focus();
  });

const confirmTotp = (event) =>
  submitFields(event, ['mfa-confirm-code'], async (code) => {
    const { recoveryCodes } = await auth.confirmTotp({ code });
    clearTotpSetup();
    $('mfa-recovery-codes').replaceChildren(...recoveryCodes.map((c) => Object.assign(document.createElement('li'), { textContent: c })));
    $('mfa-recovery').hidden = false;
    await showMfaStatus();
  });

const removeTotp = (event) =>
  submitFields(event, ['mfa-remove-password', 'mfa-remove-code'], async (password, code) => {
    await auth.removeTotp({ password, ...secondFactorOf(code.trim()) });
    showError('two-factor authentication is off: logins need only the password');
    await showMfaStatus();
  });

/** Offers "set up" or "turn off", whichever applies, and says how many recovery codes are left. */
async function showMfaStatus() {
  const { totp } = await auth.mfaStatus();
  $('mfa-state').dataset.active = String(totp.active);
  $('mfa-state').textContent = totp.active
    ? `On: logins ask for a code from your authenticator app. Recovery codes left: ${totp.recoveryCodesLeft}.`
    : 'Off: logins need only the password.';
  $('mfa-enroll-form').hidden = totp.active;
  $('mfa-remove-form').hidden = !totp.active;
}

/** Takes the secret and the recovery codes off the page: they are shown once, not kept. */
function clearTotpSetup() {
  $('mfa-secret').textContent = '';
  $('mfa-otpauth-uri').textContent = '';
  $('mfa-confirm-form').hidden = true;
  $('mfa-recovery-codes').replaceChildren();
  $('mfa-recovery').hidden = true;
}

async function register(event) {
  event.preventDefault();
  clearError();
  const password = /** @type {HTMLInputElement} */ ($('register-password'));
  const res = await fetch(`${api}/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: /** @type {HTMLInputElement} */ ($('register-email')).value, password: password.value }),
  });
  password.value = '';
  const body = await res.json();
  if (!res.ok) return showError(`register: ${res.status} ${body.code}: ${body.detail}`);
  /** @type {HTMLInputElement} */ ($('login-email')).value = body.email;
  showError(`registered ${body.email}; now log in`);
}

async function forgot(event) {
  event.preventDefault();
  clearError();
  const email = /** @type {HTMLInputElement} */ ($('forgot-email')).value;
  const res = await fetch(`${api}/auth/password/forgot`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email }),
  });
  if (res.status !== 202) return showError(await problemText('forgot', res));
  // The same answer whether or not the address has an account: say no more than that.
  showError(`if ${email} has an account, a reset link is on its way`);
}

async function resendVerification() {
  clearError();
  const res = await auth.fetch(`${api}/auth/email/verify/resend`, { method: 'POST' });
  if (res.status !== 202) return showError(await problemText('resend', res));
  showError('a new verification link is on its way');
}

/** The secret of a mailed link, taken out of the address bar and the history before anything else. */
function takeLinkToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(null, '', location.pathname);
  return token;
}

const LINK_ERRORS = {
  mail_token_expired: 'This link has expired. Ask for a new one.',
  mail_token_used: 'This link was already used.',
  mail_token_voided: 'This link is no longer valid (a newer one was sent, or the account changed). Use the latest mail.',
  mail_token_invalid: 'This link is not valid.',
};

async function problemText(what, res) {
  const body = await res.json().catch(() => ({}));
  return LINK_ERRORS[body.code] || `${what}: ${res.status} ${body.code || ''}: ${body.detail || ''}`;
}

async function resetPassword(event, token) {
  event.preventDefault();
  clearError();
  const password = /** @type {HTMLInputElement} */ ($('reset-password'));
  const remember = /** @type {HTMLInputElement} */ ($('reset-remember')).checked;
  // Cookie delivery, as for login: the new session's refresh token becomes the HttpOnly cookie.
  const res = await fetch(`${api}/auth/password/reset`, {
    method: 'POST',
    credentials: 'include',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token, new_password: password.value, token_delivery: 'cookie', remember }),
  });
  password.value = '';
  if (!res.ok) return showError(await problemText('reset', res));
  history.replaceState(null, '', '/');
  $('reset').hidden = true;
  // Every other session of the account has ended; this tab takes up the fresh one.
  if (!(await auth.restore())) showLoggedOut('password changed; log in');
}

/** Posts a mailed link's token to `path` and shows what happened. */
async function useLink(path, token, success) {
  setStatus('link');
  $('link').hidden = false;
  if (!token) {
    $('link').dataset.outcome = 'failed';
    $('link-message').textContent = LINK_ERRORS.mail_token_invalid;
    return;
  }
  const res = await fetch(`${api}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
  $('link').dataset.outcome = res.ok ? 'ok' : 'failed';
  $('link-message').textContent = res.ok ? success(await res.json()) : await problemText(path, res);
}

// --- view ------------------------------------------------------------------------------------

function setStatus(state) {
  $('status').dataset.state = state;
  $('status').textContent = state;
}

function showLoggedIn() {
  stopAutofill();
  setStatus('logged-in');
  $('logged-in').hidden = false;
  $('logged-out').hidden = true;
  $('mfa').hidden = true;
  $('reset').hidden = true;
  $('link').hidden = true;
}

function showLoggedOut(message = '') {
  setStatus('logged-out');
  forgetPendingMfa();
  clearTotpSetup();
  $('logged-in').hidden = true;
  $('mfa').hidden = true;
  $('logged-out').hidden = false;
  resetPasskeyView();
  startAutofill();
  if (message) showError(message);
}

function showError(message) {
  $('error').textContent = message;
}

function clearError() {
  $('error').textContent = '';
}

async function start() {
  $('api-url').textContent = api;
  const report = (err) => showError(describe(err));
  $('login-form').addEventListener('submit', (e) => login(e).catch(report));
  $('register-form').addEventListener('submit', (e) => register(e).catch(report));
  $('forgot-form').addEventListener('submit', (e) => forgot(e).catch(report));
  $('mfa-form').addEventListener('submit', (e) => verifySecondFactor(e).catch(report));
  $('mfa-switch').addEventListener('click', () => useRecoveryCode(!$('mfa-code-label').hidden));
  $('mfa-cancel').addEventListener('click', () => {
    clearError();
    showLoggedOut();
  });
  $('mfa-enroll-form').addEventListener('submit', (e) => enrollTotp(e).catch(report));
  $('mfa-confirm-form').addEventListener('submit', (e) => confirmTotp(e).catch(report));
  $('mfa-recovery-done').addEventListener('click', () => clearTotpSetup());
  $('mfa-remove-form').addEventListener('submit', (e) => removeTotp(e).catch(report));
  $('me-button').addEventListener('click', () => loadMe().catch(report));
  $('resend-button').addEventListener('click', () => resendVerification().catch(report));
  $('logout-button').addEventListener('click', () => auth.logout().catch(report));
  $('logout-all-button').addEventListener('click', () => auth.logoutAll().catch(report));
  const ui = { auth, $, showError, clearError, describe };
  await initPasskeys(ui);
  // The buttons appear when Tessera answers; the page does not wait for them.
  void initProviders(ui);

  const route = location.pathname.replace(/\/+$/, '');
  if (['/reset-password', '/verify-email', '/confirm-email-change'].includes(route)) {
    const token = takeLinkToken();
    if (route === '/verify-email') return useLink('/auth/email/verify', token, (user) => `Your address ${user.email} is verified.`);
    if (route === '/confirm-email-change') return useLink('/auth/email/change/confirm', token, (user) => `Your address is now ${user.email}.`);
    setStatus('reset-password');
    $('reset').hidden = false;
    $('reset-form').addEventListener('submit', (e) => resetPassword(e, token).catch(report));
    return;
  }
  if (route === CALLBACK_PATH) {
    // Back from a provider: ?code=… (or ?error=…). The client cleans the address bar first.
    setStatus('completing-sign-in');
    const result = await completeSignIn().catch((err) => {
      showError(`sign-in with a provider failed: ${describe(err)}`);
      return null;
    });
    history.replaceState(null, '', '/');
    if (result && result.status === 'mfa_required') return askForSecondFactor(result.mfaToken, result.expiresIn, result.methods);
    if (result && result.status === 'linked') showError(`linked ${result.identity.provider}${result.identity.email ? ` (${result.identity.email})` : ''}`);
    // signed_in: the session event shows the account; linked: the cookie restores the session below.
  }
  setStatus('restoring');
  // Another tab's token, or the HttpOnly cookie, brings the session back after a reload.
  if (!(await auth.restore())) showLoggedOut();
}

start().catch((err) => {
  showError(describe(err));
  showLoggedOut();
});
