// Tessera example SPA: cookie delivery of the refresh token, access token in memory only.
//
// - The refresh token lives in an HttpOnly; Secure; SameSite=Strict cookie set by the API.
//   This script never sees it; it only asks the browser to send it (credentials: 'include').
// - The access token lives in the `accessToken` variable below and nowhere else: not in
//   localStorage, sessionStorage or a cookie, so a reload forgets it and the page gets a
//   new one from POST /auth/refresh (the cookie is what survives the reload).
// - Requests the cookie authenticates (refresh, logout) carry X-Requested-With: the API
//   refuses them without it, and a cross-site page cannot add it without a CORS preflight
//   that the API only grants to the origins in CORS_ORIGINS.
'use strict';

(function () {
  const api = resolveApi();

  /** @type {string | null} */
  let accessToken = null;
  let accessTokenExpiresAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let refreshTimer;
  /** @type {Promise<boolean> | null} one refresh at a time: the timer, a 401 and a click may race */
  let refreshing = null;
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

  // --- HTTP ----------------------------------------------------------------------------

  /**
   * @param {string} path
   * @param {{ method?: string, body?: unknown, bearer?: boolean, cookie?: boolean }} [options]
   *   bearer: send the in-memory access token; cookie: let the browser send (and store) the
   *   refresh cookie, with the CSRF header the API requires for cookie-authenticated calls.
   */
  async function call(path, options = {}) {
    const headers = {};
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.cookie) headers['X-Requested-With'] = 'fetch';
    if (options.bearer && accessToken) headers['Authorization'] = `Bearer ${accessToken}`;
    return fetch(api + path, {
      method: options.method || 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: options.cookie ? 'include' : 'omit',
      cache: 'no-store',
    });
  }

  /** A bearer call; on a 401 the access token is refreshed once and the call repeated. */
  async function callWithBearer(path, options = {}) {
    let res = await call(path, { ...options, bearer: true });
    if (res.status === 401 && (await refresh())) res = await call(path, { ...options, bearer: true });
    return res;
  }

  async function problemOf(res) {
    try {
      const body = await res.json();
      return `${res.status} ${body.code || body.error || ''}: ${body.detail || body.title || ''}`;
    } catch {
      return `${res.status} ${res.statusText}`;
    }
  }

  // --- tokens ----------------------------------------------------------------------------

  function setTokens(tokens) {
    accessToken = tokens.access_token;
    accessTokenExpiresAt = Date.now() + tokens.expires_in * 1000;
    $('token-expires').textContent = new Date(accessTokenExpiresAt).toLocaleTimeString();
    // Refresh ahead of expiry: a minute early, or a fifth of the lifetime for short ones.
    const aheadSeconds = Math.min(60, tokens.expires_in / 5);
    scheduleRefresh(Math.max(1, tokens.expires_in - aheadSeconds) * 1000);
  }

  function scheduleRefresh(delayMs) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => void refresh().catch((err) => showError(String(err))), delayMs);
  }

  function forgetTokens() {
    accessToken = null;
    accessTokenExpiresAt = 0;
    clearTimeout(refreshTimer);
    refreshTimer = undefined;
  }

  /** Trades the refresh cookie for a new token pair. Resolves true when signed in. */
  function refresh() {
    if (!refreshing) refreshing = doRefresh().finally(() => (refreshing = null));
    return refreshing;
  }

  async function doRefresh() {
    let res;
    try {
      res = await call('/auth/refresh', { method: 'POST', cookie: true });
    } catch (err) {
      // The API is unreachable: keep what we have and try again shortly.
      showError(`refresh failed: ${err.message}`);
      if (accessToken) scheduleRefresh(10_000);
      return false;
    }
    if (res.ok) {
      setTokens(await res.json());
      refreshCount += 1;
      $('refresh-count').textContent = String(refreshCount);
      return true;
    }
    // 401: no cookie, or the session ended (logout elsewhere, expiry, reuse detected).
    // 403 csrf_rejected would mean this page's origin is missing from CORS_ORIGINS.
    if (res.status !== 401) showError(`refresh: ${await problemOf(res)}`);
    if (res.status >= 500) {
      if (accessToken) scheduleRefresh(10_000);
      return false;
    }
    forgetTokens();
    showLoggedOut();
    return false;
  }

  // --- actions ---------------------------------------------------------------------------

  async function loadMe() {
    const res = await callWithBearer('/auth/me');
    if (!res.ok) {
      if (res.status === 401) showLoggedOut();
      else showError(`me: ${await problemOf(res)}`);
      return;
    }
    const me = await res.json();
    $('me-email').textContent = me.email;
    $('me-id').textContent = me.id;
    showLoggedIn();
  }

  async function login(event) {
    event.preventDefault();
    clearError();
    const res = await call('/auth/login', {
      method: 'POST',
      cookie: true, // credentials: 'include' so the browser stores the Set-Cookie
      body: {
        email: $('login-email').value,
        password: $('login-password').value,
        remember: $('login-remember').checked,
        token_delivery: 'cookie',
      },
    });
    $('login-password').value = '';
    if (!res.ok) return showError(`login: ${await problemOf(res)}`);
    setTokens(await res.json());
    await loadMe();
  }

  async function register(event) {
    event.preventDefault();
    clearError();
    const res = await call('/auth/register', {
      method: 'POST',
      body: { email: $('register-email').value, password: $('register-password').value },
    });
    $('register-password').value = '';
    if (!res.ok) return showError(`register: ${await problemOf(res)}`);
    const user = await res.json();
    $('login-email').value = user.email;
    showError(`registered ${user.email}; now log in`);
  }

  async function logout() {
    clearError();
    let res;
    try {
      res = await call('/auth/logout', { method: 'POST', cookie: true });
    } catch (err) {
      return showError(`logout failed: ${err.message}`);
    }
    // 401: the session was already gone; either way this page is signed out now.
    if (!res.ok && res.status !== 401) return showError(`logout: ${await problemOf(res)}`);
    forgetTokens();
    $('me-email').textContent = '';
    $('me-id').textContent = '';
    showLoggedOut();
  }

  // --- view ------------------------------------------------------------------------------

  function setStatus(state) {
    $('status').dataset.state = state;
    $('status').textContent = state;
  }

  function showLoggedIn() {
    setStatus('logged-in');
    $('logged-in').hidden = false;
    $('logged-out').hidden = true;
  }

  function showLoggedOut() {
    setStatus('logged-out');
    $('logged-in').hidden = true;
    $('logged-out').hidden = false;
  }

  function showError(message) {
    $('error').textContent = message;
  }

  function clearError() {
    $('error').textContent = '';
  }

  async function start() {
    $('api-url').textContent = api;
    const reportFailure = (err) => showError(String(err && err.message ? err.message : err));
    $('login-form').addEventListener('submit', (e) => login(e).catch(reportFailure));
    $('register-form').addEventListener('submit', (e) => register(e).catch(reportFailure));
    $('me-button').addEventListener('click', () => loadMe().catch(reportFailure));
    $('logout-button').addEventListener('click', () => logout().catch(reportFailure));
    // A reload lost the access token; the HttpOnly cookie, if any, brings the session back.
    setStatus('restoring');
    if (await refresh()) await loadMe();
    else showLoggedOut();
  }

  start().catch((err) => {
    showError(String(err && err.message ? err.message : err));
    showLoggedOut();
  });
})();
