// The ways a user can sign in, counted: removing the last one is refused (409
// last_sign_in_method), so nobody locks themselves out of an account.
import type { Queryable } from '../db/db.ts';

export interface SignInMethods {
  password: boolean;
  passkeys: number;
  identities: number;
}

export async function signInMethods(db: Queryable, userId: string): Promise<SignInMethods> {
  const rows = await db.query<{ password: boolean; identities: number }>(
    `SELECT (SELECT password_hash IS NOT NULL FROM users WHERE id = $1) AS password,
            (SELECT count(*) FROM identities WHERE user_id = $1)::int AS identities`,
    [userId],
  );
  // passkeys: the passkeys branch fills this in (its table); this branch has none.
  return { password: rows[0]?.password === true, passkeys: 0, identities: Number(rows[0]?.identities ?? 0) };
}

/** How many ways remain; 0 means the account could no longer be signed in to. */
export const countMethods = (m: SignInMethods): number => (m.password ? 1 : 0) + m.passkeys + m.identities;
