// SQL for linked provider identities. UNIQUE (provider, subject) is what makes two replicas
// completing the same first sign-in at once end with one identity: the loser's INSERT
// fails (23505) and it reads the winner's row instead.
import type { Queryable } from '../db/db.ts';
import { date, type Row } from '../db/rows.ts';

export interface Identity {
  id: string;
  userId: string;
  provider: string;
  subject: string;
  email: string | null;
  createdAt: Date;
}

export class IdentityTakenError extends Error {
  constructor() {
    super('identity already linked');
  }
}

const toIdentity = (r: Row): Identity => ({
  id: r.id as string,
  userId: r.user_id as string,
  provider: r.provider as string,
  subject: r.subject as string,
  email: (r.email as string | null) ?? null,
  createdAt: date(r.created_at),
});

export const identityStore = {
  async find(db: Queryable, provider: string, subject: string): Promise<Identity | undefined> {
    const rows = await db.query('SELECT * FROM identities WHERE provider = $1 AND subject = $2', [provider, subject]);
    return rows[0] && toIdentity(rows[0]);
  },

  async findById(db: Queryable, id: string): Promise<Identity | undefined> {
    const rows = await db.query('SELECT * FROM identities WHERE id = $1', [id]);
    return rows[0] && toIdentity(rows[0]);
  },

  async listForUser(db: Queryable, userId: string): Promise<Identity[]> {
    const rows = await db.query('SELECT * FROM identities WHERE user_id = $1 ORDER BY created_at, id', [userId]);
    return rows.map(toIdentity);
  },

  /** Throws IdentityTakenError when (provider, subject) is already linked (to anyone). */
  async insert(db: Queryable, i: Identity): Promise<Identity> {
    try {
      const rows = await db.query(
        'INSERT INTO identities (id, user_id, provider, subject, email, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
        [i.id, i.userId, i.provider, i.subject, i.email, i.createdAt],
      );
      return toIdentity(rows[0]!);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new IdentityTakenError();
      throw err;
    }
  },

  async delete(db: Queryable, id: string, userId: string): Promise<Identity | undefined> {
    const rows = await db.query('DELETE FROM identities WHERE id = $1 AND user_id = $2 RETURNING *', [id, userId]);
    return rows[0] && toIdentity(rows[0]);
  },
};
