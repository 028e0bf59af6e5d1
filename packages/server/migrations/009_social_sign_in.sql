-- Social sign-in (OpenID Connect and OAuth 2.0 providers). Timestamps come from the
-- application's clock.

-- An account created by a provider has no password until it sets one through the reset
-- flow. (The passkeys migration does the same; dropping NOT NULL twice is harmless.)
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

-- How the session was opened when it was a provider: the `idp` claim of its access tokens,
-- carried unchanged by every refresh. NULL: Tessera's own password (or passkey).
ALTER TABLE sessions ADD COLUMN idp text;

-- A provider sign-in on an account with a second factor waits in mfa_challenges like a
-- password login; these say which first factor it was, so the session opened after the
-- code carries the provider's amr and idp instead of `pwd`.
ALTER TABLE mfa_challenges ADD COLUMN first_amr text[];
ALTER TABLE mfa_challenges ADD COLUMN idp text;

-- A provider account linked to a local user. (provider, subject) is the identity: a
-- provider's `sub` is only unique within its issuer. The email is what the provider said
-- when it was linked, for the user's list; it never signs anyone in by itself.
CREATE TABLE identities (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  provider text NOT NULL,
  subject text NOT NULL,
  email text,
  created_at timestamptz NOT NULL,
  UNIQUE (provider, subject)
);

CREATE INDEX identities_user_id_idx ON identities (user_id);

-- One sign-in between /start and the provider's callback, keyed by the SHA-256 of its
-- `state`. Holds what we send the provider (nonce, PKCE verifier) and what we owe the
-- client (its redirect_to and code_challenge). Single use: the callback DELETEs it
-- RETURNING, so a replayed state finds nothing, on any replica.
CREATE TABLE provider_flows (
  state_hash text PRIMARY KEY,
  provider text NOT NULL,
  nonce text NOT NULL,
  code_verifier text NOT NULL,
  redirect_to text NOT NULL,
  code_challenge text NOT NULL,
  -- Set when a signed-in user started a link: the identity goes to this user.
  link_user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE INDEX provider_flows_expires_at_idx ON provider_flows (expires_at);

-- The one-time code the callback hands the client (SHA-256 of it is the key), redeemed at
-- /auth/providers/token with the verifier of the client's own code_challenge. It carries
-- the outcome decided at the callback: the user to sign in (or the identity linked), and
-- how they authenticated.
CREATE TABLE provider_codes (
  code_hash text PRIMARY KEY,
  provider text NOT NULL,
  code_challenge text NOT NULL,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- Set for a link: the identity that was linked (answered as {identity}, no tokens).
  identity_id uuid REFERENCES identities (id) ON DELETE CASCADE,
  amr text[],
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE INDEX provider_codes_expires_at_idx ON provider_codes (expires_at);
