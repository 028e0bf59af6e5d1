// The ways an account can sign in (password, passkeys, linked identities), counted in one
// place: removing the last one is refused (409 last_sign_in_method), so nobody locks
// themselves out of an account.
import type { Queryable } from '../db/db.ts';

export interface SignInMethods {
  password: boolean;
  passkeys: number;
  identities: number;
}

/**
 * What the account can sign in with. Inside a transaction that holds the user's row lock
 * (userStore.lockById), the answer stays true until it commits: two removals racing on two
 * replicas queue on that lock, and the second sees what the first left.
 */
export async function signInMethods(db: Queryable, userId: string): Promise<SignInMethods> {
  const rows = await db.query<{ password: boolean; passkeys: number; identities: number }>(
    `SELECT (SELECT password_hash IS NOT NULL FROM users WHERE id = $1) AS password,
            (SELECT count(*) FROM passkeys WHERE user_id = $1)::int AS passkeys,
            (SELECT count(*) FROM identities WHERE user_id = $1)::int AS identities`,
    [userId],
  );
  return { password: rows[0]?.password === true, passkeys: Number(rows[0]?.passkeys ?? 0), identities: Number(rows[0]?.identities ?? 0) };
}

/** How many ways to sign in are left; removing one when this is 1 is refused. */
export const countSignInMethods = (m: SignInMethods): number => (m.password ? 1 : 0) + m.passkeys + m.identities;
/** The name the social-sign-in branch used for {@link countSignInMethods}. */
export const countMethods = countSignInMethods;
