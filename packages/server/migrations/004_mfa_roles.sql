-- Second factor (TOTP), recovery codes, logins waiting for their second factor, roles, and
-- how each session was authenticated. Timestamps come from the application's clock.

-- RFC 9068 §2.2.3.1 `roles` of access tokens; read at every issuance, so a change reaches
-- the user's tokens at their next refresh.
ALTER TABLE users ADD COLUMN roles text[] NOT NULL DEFAULT '{}';

-- How the user authenticated in this session (RFC 8176 `amr` values) and when they last
-- did so actively (login, second factor, step-up). A refresh carries both unchanged into
-- the session's next access token; only a fresh second factor (step-up) raises them.
ALTER TABLE sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;
UPDATE sessions SET auth_time = created_at;
ALTER TABLE sessions ALTER COLUMN auth_time SET NOT NULL;

-- One TOTP authenticator per user. Active once confirmed_at is set; until then a new
-- enrolment replaces it.
CREATE TABLE mfa_totp (
  user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  -- AES-256-GCM under MFA_ENCRYPTION_KEY, with the user id as associated data: never the
  -- secret itself, and a ciphertext copied to another user's row does not open.
  secret_sealed text NOT NULL,
  created_at timestamptz NOT NULL,
  confirmed_at timestamptz,
  -- The newest 30-second time step a code was accepted for. A code is accepted only for a
  -- newer step, in one UPDATE: so each code works once, on whichever replica sees it first.
  last_used_step bigint
);

-- Ten single-use codes for when the authenticator is lost: SHA-256 of 80 random bits each.
CREATE TABLE mfa_recovery_codes (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- A correct password for an account with a second factor: the login waits here (5 min,
-- single use) for the code. Bound to the password hash it was issued for, by digest, so a
-- password change voids it.
CREATE TABLE mfa_challenges (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  password_digest text NOT NULL,
  remember boolean NOT NULL,
  token_delivery text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  failures integer NOT NULL DEFAULT 0
);

CREATE INDEX mfa_challenges_user_id_idx ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);
