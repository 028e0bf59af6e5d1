// The example SPA's social sign-in, through @tessera/client: a button per provider Tessera
// is configured with (GET /auth/providers) on the login page; the provider sends the
// browser back to /auth/callback?code=…, where the client trades the code (with the PKCE
// verifier it kept in this tab's sessionStorage) and cleans the address bar. Signed in, the
// account page lists the linked identities ("Unlink") and offers "Link <provider>".
import { withRecentSignIn } from './passkeys-ui.js';

export const CALLBACK_PATH = '/auth/callback';

/** @type {import('./passkeys-ui.js').Ui} */
let ui;
let providers = [];

const redirectTo = () => `${location.origin}${CALLBACK_PATH}`;

/** Draws the provider buttons; a Tessera without providers (or without the feature) shows none. */
export async function initProviders(context) {
  ui = context;
  providers = await ui.auth.providers().catch(() => []);
  const button = (prefix, p, label, onClick) => {
    const b = Object.assign(document.createElement('button'), { type: 'button', id: `${prefix}-${p.name}`, textContent: label });
    b.addEventListener('click', () => onClick(p).catch((err) => ui.showError(ui.describe(err))));
    return b;
  };
  ui.$('provider-buttons').replaceChildren(
    ...providers.map((p) => button('provider', p, `Sign in with ${p.displayName}`, (q) => ui.auth.signInWithProvider(q.name, { redirectTo: redirectTo() }))),
  );
  ui.$('link-buttons').replaceChildren(
    ...providers.map((p) => button('link', p, `Link ${p.displayName}`, (q) => ui.auth.linkProvider(q.name, { redirectTo: redirectTo() }))),
  );
  ui.$('identity-list').addEventListener('click', (e) => {
    const id = e.target instanceof HTMLElement ? e.target.dataset.unlinkIdentity : undefined;
    if (id) unlink(id).catch((err) => ui.showError(ui.describe(err)));
  });
}

/**
 * On /auth/callback: finishes the sign-in (or the link). Answers the client's result:
 * `signed_in` (the session event shows the account), `mfa_required`, `linked`; null when
 * the address holds no answer.
 */
export function completeSignIn() {
  return ui.auth.completeProviderSignIn();
}

export async function showIdentities() {
  const identities = await ui.auth.identities();
  ui.$('identity-list').replaceChildren(
    ...identities.map((i) => {
      const li = document.createElement('li');
      li.dataset.identityId = i.id;
      li.dataset.provider = i.provider;
      const name = providers.find((p) => p.name === i.provider)?.displayName ?? i.provider;
      li.append(`${name}${i.email ? ` (${i.email})` : ''} — linked ${new Date(i.createdAt).toLocaleString()} `);
      const unlinkButton = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Unlink' });
      unlinkButton.dataset.unlinkIdentity = i.id;
      li.append(unlinkButton);
      return li;
    }),
  );
}

async function unlink(id) {
  ui.clearError();
  await withRecentSignIn(async () => {
    await ui.auth.unlinkIdentity(id);
    ui.showError('unlinked');
    await showIdentities();
  });
}
