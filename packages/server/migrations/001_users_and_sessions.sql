-- Users, sessions (a session is a refresh-token family) and the hashes of every refresh
-- token a session has issued. Timestamps come from the application's injected clock.

CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  password_changed_at timestamptz NOT NULL,
  disabled_at timestamptz
);

CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id text NOT NULL,
  remember boolean NOT NULL,
  created_at timestamptz NOT NULL,
  last_used_at timestamptz NOT NULL,
  -- Unused until then: dead. Pushed forward by every refresh.
  idle_expires_at timestamptz NOT NULL,
  -- Dead then, whatever happens: fixed at login, never extended.
  absolute_expires_at timestamptz NOT NULL,
  user_agent text,
  ip text,
  revoked_at timestamptz,
  revoked_reason text
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Every refresh token ever issued for a session, by SHA-256 hash. Rotated tokens stay so
-- that presenting one again is recognised as reuse (theft) and not as an unknown token.
CREATE TABLE refresh_tokens (
  token_hash text PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  generation integer NOT NULL,
  issued_at timestamptz NOT NULL,
  rotated_at timestamptz,
  -- The successor token, encrypted with a key derived from this token, so that a
  -- concurrent caller holding this token within the grace window can be handed the
  -- same successor without the database ever holding a usable token.
  successor_sealed text
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
