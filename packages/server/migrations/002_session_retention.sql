-- Data lifecycle: what the purge (src/sessions/purge.ts) needs to find its work without
-- scanning whole tables, and the per-session refresh budget.

-- Rotated tokens whose successor is still sealed. Every refresh scrubs its own session's
-- older ones (by session_id) and the purge scrubs the rest (by rotated_at), so this index
-- only ever holds the rows rotated within about one purge interval.
CREATE INDEX refresh_tokens_sealed_idx ON refresh_tokens (session_id, rotated_at) WHERE successor_sealed IS NOT NULL;

-- Rotated-token hashes older than SESSION_RETENTION.
CREATE INDEX refresh_tokens_rotated_at_idx ON refresh_tokens (rotated_at) WHERE rotated_at IS NOT NULL;

-- Sessions dead for longer than SESSION_RETENTION: expired (idle_expires_at is never later
-- than absolute_expires_at, so it is the expiry) or revoked.
CREATE INDEX sessions_idle_expires_at_idx ON sessions (idle_expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Rotations in the session's current one-minute window (RATE_LIMIT_REFRESH_SESSION_PER_MINUTE):
-- counted in the rotation statement itself, so every replica enforces one budget for free.
ALTER TABLE sessions
  ADD COLUMN refresh_window_started_at timestamptz,
  ADD COLUMN refresh_window_count integer NOT NULL DEFAULT 0;
