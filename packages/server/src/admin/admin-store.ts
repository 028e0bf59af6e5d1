// SQL the admin API needs beyond the users store: a page of users in a stable order, one
// user with what an operator wants to see, and roles.
import type { Queryable } from '../db/db.ts';

export interface AdminUserRow {
  id: string;
  email: string;
  createdAt: Date;
  disabledAt: Date | null;
  roles: string[];
  mfaEnabled: boolean;
}

/** Where a page starts: after this (created_at, id), the order of the listing. */
export interface UserCursor {
  createdAt: string;
  id: string;
}

const COLUMNS = `u.id, u.email, u.created_at, u.disabled_at, u.roles,
  EXISTS (SELECT 1 FROM mfa_totp f WHERE f.user_id = u.id AND f.confirmed_at IS NOT NULL) AS mfa_enabled`;

const toRow = (r: Record<string, unknown>): AdminUserRow => ({
  id: r.id as string,
  email: r.email as string,
  createdAt: new Date(r.created_at as string),
  disabledAt: r.disabled_at ? new Date(r.disabled_at as string) : null,
  roles: (r.roles as string[] | null) ?? [],
  mfaEnabled: r.mfa_enabled === true,
});

/** `%`, `_` and `\` are literal in a search, not LIKE wildcards. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export const adminStore = {
  /**
   * Users in creation order (ties broken by id), `limit` at a time, after `cursor`;
   * optionally only those whose email contains `query`. Keyset pagination: a page is one
   * index range whatever the offset, and users created meanwhile never shift it.
   */
  async listUsers(db: Queryable, options: { query?: string | undefined; cursor?: UserCursor | undefined; limit: number }): Promise<AdminUserRow[]> {
    const params: unknown[] = [options.limit];
    const where: string[] = [];
    if (options.query) {
      params.push(likePattern(options.query.toLowerCase()));
      where.push(`u.email LIKE $${params.length}`);
    }
    if (options.cursor) {
      params.push(options.cursor.createdAt, options.cursor.id);
      where.push(`(u.created_at, u.id) > ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    const rows = await db.query(
      `SELECT ${COLUMNS} FROM users u ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY u.created_at, u.id LIMIT $1`,
      params,
    );
    return rows.map(toRow);
  },

  async findUser(db: Queryable, id: string): Promise<AdminUserRow | undefined> {
    const rows = await db.query(`SELECT ${COLUMNS} FROM users u WHERE u.id = $1`, [id]);
    return rows[0] && toRow(rows[0]);
  },

  /** Sets the roles under the user's row lock; returns the roles replaced, or undefined for an unknown user. */
  async setRoles(tx: Queryable, id: string, roles: string[]): Promise<string[] | undefined> {
    const before = await tx.query<{ roles: string[] }>('SELECT roles FROM users WHERE id = $1 FOR UPDATE', [id]);
    if (!before[0]) return undefined;
    await tx.query('UPDATE users SET roles = $2 WHERE id = $1', [id, roles]);
    return before[0].roles;
  },
};
