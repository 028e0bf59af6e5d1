import type { Queryable } from '../db/db.ts';

/** Tombstones of deleted accounts (see migration 003): ids only, kept while a token could live. */
export const deletedUserStore = {
  /** Records a deletion and forgets the ones older than `horizon` (no token of theirs is alive). */
  async record(tx: Queryable, userId: string, now: Date, horizon: Date): Promise<void> {
    await tx.query('DELETE FROM deleted_users WHERE deleted_at < $1', [horizon]);
    await tx.query('INSERT INTO deleted_users (user_id, deleted_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING', [userId, now]);
  },
};
