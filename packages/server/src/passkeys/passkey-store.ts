// SQL for passkeys. Every function takes the connection or transaction to use. The one
// state change that two replicas can race on, the signature counter, is a single
// conditional UPDATE: PostgreSQL's row lock decides, and the loser's WHERE no longer matches.
import type { Queryable } from '../db/db.ts';
import type { Row } from '../db/rows.ts';

export interface Passkey {
  id: string;
  userId: string;
  /** base64url, as the authenticator chose it. */
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  signCount: number;
  backupEligible: boolean;
  backedUp: boolean;
  transports: string[];
  aaguid: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** What the rest of the server needs of passkey storage (the service takes this, tests may fake it). */
export interface PasskeyStore {
  insert(db: Queryable, p: Passkey): Promise<'inserted' | 'duplicate'>;
  listForUser(db: Queryable, userId: string): Promise<Passkey[]>;
  countForUser(db: Queryable, userId: string): Promise<number>;
  findById(db: Queryable, id: string): Promise<Passkey | undefined>;
  findByCredentialId(db: Queryable, credentialId: string): Promise<Passkey | undefined>;
  rename(db: Queryable, id: string, userId: string, name: string): Promise<Passkey | undefined>;
  remove(db: Queryable, id: string, userId: string): Promise<boolean>;
  recordUse(db: Queryable, use: PasskeyUse): Promise<Passkey | undefined>;
}

/** An assertion that verified: the counter it carried and the backup state it reported. */
export interface PasskeyUse {
  id: string;
  userId: string;
  signCount: number;
  backedUp: boolean;
  now: Date;
}

const toPasskey = (r: Row): Passkey => ({
  id: r.id as string,
  userId: r.user_id as string,
  credentialId: r.credential_id as string,
  publicKey: r.public_key as string,
  signCount: Number(r.sign_count),
  backupEligible: r.backup_eligible as boolean,
  backedUp: r.backed_up as boolean,
  transports: (r.transports as string[] | null) ?? [],
  aaguid: r.aaguid as string,
  name: r.name as string,
  createdAt: new Date(r.created_at as string),
  lastUsedAt: r.last_used_at ? new Date(r.last_used_at as string) : null,
});

export const passkeyStore: PasskeyStore = {
  /** 'duplicate' when the credential id is registered already, to this user or another. */
  async insert(db, p) {
    const rows = await db.query(
      `INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, backup_eligible, backed_up, transports, aaguid, name, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (credential_id) DO NOTHING RETURNING id`,
      [p.id, p.userId, p.credentialId, p.publicKey, p.signCount, p.backupEligible, p.backedUp, p.transports, p.aaguid, p.name, p.createdAt],
    );
    return rows.length === 1 ? 'inserted' : 'duplicate';
  },

  async listForUser(db, userId) {
    const rows = await db.query('SELECT * FROM passkeys WHERE user_id = $1 ORDER BY created_at, id', [userId]);
    return rows.map(toPasskey);
  },

  async countForUser(db, userId) {
    const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM passkeys WHERE user_id = $1', [userId]);
    return Number(rows[0]?.n ?? 0);
  },

  async findById(db, id) {
    const rows = await db.query('SELECT * FROM passkeys WHERE id = $1', [id]);
    return rows[0] && toPasskey(rows[0]);
  },

  async findByCredentialId(db, credentialId) {
    const rows = await db.query('SELECT * FROM passkeys WHERE credential_id = $1', [credentialId]);
    return rows[0] && toPasskey(rows[0]);
  },

  async rename(db, id, userId, name) {
    const rows = await db.query('UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING *', [id, userId, name]);
    return rows[0] && toPasskey(rows[0]);
  },

  async remove(db, id, userId) {
    const rows = await db.query('DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING id', [id, userId]);
    return rows.length === 1;
  },

  /**
   * Accepts a verified assertion's counter only if it moved forward (WebAuthn L3 §7.2 step
   * 22), or stayed at 0 on an authenticator that keeps none (synced passkeys): compare-and-set,
   * so of two replicas racing with the same counter value exactly one wins. Undefined when
   * refused (the counter went backwards or stood still) or the passkey is gone.
   */
  async recordUse(db, use) {
    const rows = await db.query(
      `UPDATE passkeys SET sign_count = $3, backed_up = $4, last_used_at = $5
       WHERE id = $1 AND user_id = $2 AND (sign_count < $3 OR ($3 = 0 AND sign_count = 0))
       RETURNING *`,
      [use.id, use.userId, use.signCount, use.backedUp, use.now],
    );
    return rows[0] && toPasskey(rows[0]);
  },
};
