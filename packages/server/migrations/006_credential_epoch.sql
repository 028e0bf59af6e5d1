-- When a credential of the user last changed (password changed, reset or set by an operator,
-- account disabled, second factor removed). Every mailed link minted before it is void, and
-- a link mail queued before it is never sent: a pending email change cannot outlive the
-- remedy the notice mail asks for. Null: never since this migration.
ALTER TABLE users ADD COLUMN credentials_changed_at timestamptz;
