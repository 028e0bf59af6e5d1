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
// Mailed links (password reset, email verification, email change) land on /reset-password,
// /verify-email and /confirm-email-change with their secret in the fragment (#token=…):
// browsers never send a fragment to a server, nor put it in a Referer. The page takes it
// out of the address bar (and the history) at once, then posts it to the API.
//
// serve.ts serves the built package (packages/client/dist) under /vendor/tessera-client/;
// an app with a bundler would write `import { TesseraClient } from '@tessera/client'`.
import { TesseraClient, TesseraError } from './vendor/tessera-client/index.js';

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

function describe(err) {
  return err instanceof TesseraError ? `${err.status} ${err.code}: ${err.message}` : String(err && err.message ? err.message : err);
}

// --- session events ------------------------------------------------------------------------

auth.on('session', ({ expiresAt }) => {
  $('token-expires').textContent = new Date(expiresAt).toLocaleTimeString();
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
    if (result.status === 'mfa_required') showError('this account needs a second factor; this example does not ask for it yet');
  } finally {
    password.value = '';
  }
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
  setStatus('logged-in');
  $('logged-in').hidden = false;
  $('logged-out').hidden = true;
  $('reset').hidden = true;
  $('link').hidden = true;
}

function showLoggedOut(message = '') {
  setStatus('logged-out');
  $('logged-in').hidden = true;
  $('logged-out').hidden = false;
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
  $('me-button').addEventListener('click', () => loadMe().catch(report));
  $('resend-button').addEventListener('click', () => resendVerification().catch(report));
  $('logout-button').addEventListener('click', () => auth.logout().catch(report));
  $('logout-all-button').addEventListener('click', () => auth.logoutAll().catch(report));

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
  setStatus('restoring');
  // Another tab's token, or the HttpOnly cookie, brings the session back after a reload.
  if (!(await auth.restore())) showLoggedOut();
}

start().catch((err) => {
  showError(describe(err));
  showLoggedOut();
});
