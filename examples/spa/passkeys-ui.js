// The example SPA's passkeys, through @tessera/client:
// - login page: "Sign in with a passkey" (the browser's dialog) and, where the browser has
//   it, the passkeys offered in the email field's autofill (autocomplete="username webauthn",
//   a conditional request that waits while the login form is shown);
// - the second step of a password login: "Use a passkey" when Tessera lists `webauthn`;
// - account page: the list (with "Remove"), "Add a passkey", and a step-up with a passkey
//   when Tessera wants a recent sign-in (RFC 9470 `insufficient_user_authentication`), after
//   which the refused action is tried again.
import { TesseraError } from './vendor/tessera-client/index.js';

/** @typedef {{ auth: any, $: (id: string) => HTMLElement, showError: (m: string) => void, clearError: () => void, describe: (e: unknown) => string }} Ui */

/** @type {Ui} */
let ui;
let support = { passkeys: false, autofill: false };
/** The waiting autofill request (aborted when the login form goes away). */
let autofill = null;
/** The action a step-up will retry. */
let afterStepUp = null;

const quiet = (err) => err instanceof TesseraError && (err.code === 'passkey_aborted' || err.code === 'passkey_cancelled');

/** @param {Ui} context */
export async function initPasskeys(context) {
  ui = context;
  const { $ } = ui;
  support = await ui.auth.passkeySupport().catch(() => support);
  $('passkey-login-button').hidden = !support.passkeys;
  $('passkey-add-form').hidden = !support.passkeys;
  const report = (err) => {
    if (!quiet(err)) ui.showError(ui.describe(err));
  };
  $('passkey-login-button').addEventListener('click', () => signIn().catch(report));
  $('passkey-add-form').addEventListener('submit', (e) => addPasskey(e).catch(report));
  $('passkey-list').addEventListener('click', (e) => {
    const id = e.target instanceof HTMLElement ? e.target.dataset.removePasskey : undefined;
    if (id) removePasskey(id).catch(report);
  });
  $('step-up-passkey-button').addEventListener('click', () => stepUp().catch(report));
}

async function signIn() {
  ui.clearError();
  stopAutofill();
  // Success: the client's session event shows the account page.
  await ui.auth.signInWithPasskey();
}

/** While the login form shows: passkeys in the email field's autofill. */
export function startAutofill() {
  if (!support.autofill || autofill) return;
  const controller = new AbortController();
  autofill = controller;
  const state = ui.$('passkey-autofill');
  state.dataset.state = 'waiting';
  ui.auth
    .signInWithPasskey({ autofill: true, signal: controller.signal })
    .then(() => (state.dataset.state = 'used'))
    .catch((err) => {
      state.dataset.state = quiet(err) ? 'off' : 'failed';
      // A server without passkeys (404) or a refused passkey: said here, not as a page error.
      if (!quiet(err)) state.textContent = `passkey autofill: ${ui.describe(err)}`;
    })
    .finally(() => {
      if (autofill === controller) autofill = null;
    });
}

export function stopAutofill() {
  autofill?.abort();
  autofill = null;
}

/** "Use a passkey" on the code form when the login's methods include `webauthn`. */
export function offerSecondFactor(methods, verify) {
  const button = ui.$('mfa-passkey');
  button.hidden = !support.passkeys || !methods.includes('webauthn');
  button.onclick = () => {
    ui.clearError();
    verify((mfaToken) => ui.auth.verifyMfaWithPasskey({ mfaToken }));
  };
}

/** The account page's list; with a passkey, the step-up button too. */
export async function showPasskeys() {
  const passkeys = await ui.auth.listPasskeys();
  ui.$('step-up').hidden = !support.passkeys || passkeys.length === 0;
  ui.$('passkey-list').replaceChildren(
    ...passkeys.map((p) => {
      const li = document.createElement('li');
      li.dataset.passkeyId = p.id;
      const used = p.lastUsedAt ? `last used ${new Date(p.lastUsedAt).toLocaleString()}` : 'never used';
      li.append(`${p.name ?? 'Passkey'} — added ${new Date(p.createdAt).toLocaleString()}, ${used}${p.backedUp ? ', synced' : ''} `);
      const remove = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Remove' });
      remove.dataset.removePasskey = p.id;
      li.append(remove);
      return li;
    }),
  );
}

async function addPasskey(event) {
  event.preventDefault();
  ui.clearError();
  const name = /** @type {HTMLInputElement} */ (ui.$('passkey-name'));
  await withRecentSignIn(async () => {
    await ui.auth.registerPasskey({ name: name.value.trim() || undefined });
    name.value = '';
    ui.showError('passkey added');
    await showPasskeys();
  });
}

async function removePasskey(id) {
  ui.clearError();
  await withRecentSignIn(async () => {
    await ui.auth.deletePasskey(id);
    ui.showError('passkey removed');
    await showPasskeys();
  });
}

/**
 * Runs `action`; when Tessera wants a recent sign-in, shows the step-up button and runs
 * `action` again after it. Also used by the linked-accounts list.
 */
export async function withRecentSignIn(action) {
  try {
    await action();
  } catch (err) {
    if (!(err instanceof TesseraError && err.code === 'insufficient_user_authentication')) throw err;
    afterStepUp = action;
    ui.$('step-up').hidden = false;
    ui.$('step-up-reason').hidden = false;
    ui.showError('confirm it is you first (a recent sign-in is required)');
  }
}

async function stepUp() {
  ui.clearError();
  await ui.auth.stepUpWithPasskey();
  ui.$('step-up-reason').hidden = true;
  ui.showError('confirmed');
  const retry = afterStepUp;
  afterStepUp = null;
  if (retry) await retry();
}

/** Leaving the account page: nothing waits for a step-up any more. */
export function resetPasskeyView() {
  afterStepUp = null;
  ui.$('step-up').hidden = true;
  ui.$('step-up-reason').hidden = true;
  ui.$('passkey-list').replaceChildren();
}
