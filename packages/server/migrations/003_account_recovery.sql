-- Account recovery by email: verified addresses, the single-use secrets we mail (password
-- reset, email verification, email change), the durable outbox those mails leave through,
-- and tombstones of deleted accounts for the denylist seed.

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Secrets mailed to a user, by SHA-256 hash only. A secret is minted by the outbox drainer
-- in the transaction that records the send attempt, so the plaintext never rests in SQL.
CREATE TABLE mail_tokens (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose text NOT NULL CHECK (purpose IN ('password_reset', 'email_verification', 'email_change')),
  -- The address the secret was mailed to: the one it proves control of.
  email text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  voided_at timestamptz,
  -- superseded (a newer one was mailed), password_changed, email_changed
  voided_reason text
);

CREATE INDEX mail_tokens_user_purpose_idx ON mail_tokens (user_id, purpose);

-- Mails to send: the intent, never a secret. Written in the transaction of the change that
-- causes it (registration, a request); drained by any replica (FOR UPDATE SKIP LOCKED, then
-- a lease in next_attempt_at), retried with back-off until expires_at.
CREATE TABLE mail_outbox (
  seq bigserial PRIMARY KEY,
  kind text NOT NULL,
  -- Null: a password reset asked for an address with no account (nothing will be sent).
  user_id uuid,
  recipient text NOT NULL,
  -- Template values that are not secret (e.g. the new address of an email change).
  data jsonb NOT NULL DEFAULT '{}',
  -- ip, user_agent and request id of the request that caused the mail, for audit lines.
  context jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- Set by the replica sending it; only that claim may record the outcome.
  claim uuid,
  last_error text,
  done_at timestamptz,
  -- sent, dropped (nothing to send any more), failed (gave up)
  outcome text
);

CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE done_at IS NULL;
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id, kind);

-- A deleted account's id, kept only as long as one of its access tokens could be alive, so
-- a replica that restarts rebuilds the user's cut-off in its denylist. Nothing personal.
CREATE TABLE deleted_users (
  user_id uuid PRIMARY KEY,
  deleted_at timestamptz NOT NULL
);
