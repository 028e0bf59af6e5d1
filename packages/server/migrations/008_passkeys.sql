-- Passkeys (WebAuthn credentials) and the challenges of their ceremonies. Timestamps come
-- from the application's clock.

-- Accounts without a password exist: passkey-only accounts now, social sign-in later (its
-- migration does the same; dropping a NOT NULL that is already gone is a no-op). A password
-- login on a NULL hash fails like a wrong password.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

CREATE TABLE passkeys (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- base64url of the credential id the authenticator chose. Unique across all users: a
  -- credential id already registered (to anyone) is refused (WebAuthn L3 §7.1 step 26).
  credential_id text NOT NULL UNIQUE,
  -- COSE public key, base64url (public: not a secret).
  public_key text NOT NULL,
  -- The signature counter last seen; only ever moves forward (compare-and-set in SQL).
  sign_count bigint NOT NULL,
  -- BE: fixed at registration; an assertion that says otherwise is refused.
  backup_eligible boolean NOT NULL,
  -- BS: the latest value seen (it may change, e.g. when a passkey gets synced).
  backed_up boolean NOT NULL,
  transports text[] NOT NULL DEFAULT '{}',
  aaguid text NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL,
  last_used_at timestamptz
);

CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- A ceremony waiting for the authenticator's answer: single use (consumed by one DELETE …
-- RETURNING, so exactly one replica wins), 5 minutes, bound to its purpose and, where known,
-- to the user, the session (step-up) or the login waiting for its second factor (mfa_token).
CREATE TABLE webauthn_challenges (
  challenge text PRIMARY KEY,
  purpose text NOT NULL CHECK (purpose IN ('registration', 'login', 'second_factor', 'step_up')),
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  session_id uuid,
  mfa_token_hash text,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE INDEX webauthn_challenges_expires_at_idx ON webauthn_challenges (expires_at);
