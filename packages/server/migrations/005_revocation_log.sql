-- Revocations in SQL: the feed's log of the embedded default, and the durable outbox of
-- revocations Redis has not taken yet. Times are epoch milliseconds from the application's
-- clock, like the entries themselves (`until`); `not_before` is in seconds (iat < not_before).

-- Embedded default (no REDIS_URL): every revocation, in order. `seq` is the feed cursor, so
-- cursors stay meaningful across restarts, and the in-memory denylist is rebuilt from the
-- live rows at start (single access-token revocations included). Rows go once expired.
CREATE TABLE revocation_log (
  seq bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('session', 'token', 'user')),
  subject text NOT NULL,
  not_before bigint,
  until_ms bigint NOT NULL
);
CREATE INDEX revocation_log_until_idx ON revocation_log (until_ms);

-- The highest seq ever trimmed: a cursor below it may have missed entries, so it gets a snapshot.
CREATE TABLE revocation_log_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  trimmed_through bigint NOT NULL DEFAULT 0
);
INSERT INTO revocation_log_state (singleton) VALUES (true);

-- Redis mode: every revocation is written here in the transaction of the state change it
-- belongs to (logout, logout-all, password change…), then written to Redis by the replica
-- that took it, which deletes the row once Redis confirms. Until `claimed_until` that
-- replica is still trying; after it (or at once, when it gave up) any replica may deliver
-- the row, so a revocation survives the death of the replica that took it. Drained with
-- FOR UPDATE SKIP LOCKED; the Redis write merges, so a repeat is harmless.
CREATE TABLE revocation_outbox (
  id bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('session', 'token', 'user')),
  subject text NOT NULL,
  not_before bigint,
  until_ms bigint NOT NULL,
  claimed_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
