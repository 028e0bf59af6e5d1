// The ways an account can sign in, counted in one place: the rule "never remove the last
// one" (409 last_sign_in_method) reads this wherever a passkey (or, later, a linked social
// identity or the password) is removed.
import type { Queryable } from '../db/db.ts';

export interface SignInMethods {
  password: boolean;
  passkeys: number;
  /** Linked social identities: always 0 until social sign-in (issue 22) fills it in. */
  identities: number;
}

/**
 * What the account can sign in with. Inside a transaction that holds the user's row lock
 * (userStore.lockById), the answer stays true until it commits: two removals racing on two
 * replicas queue on that lock, and the second sees what the first left.
 */
export async function signInMethods(db: Queryable, userId: string): Promise<SignInMethods> {
  const rows = await db.query<{ password: boolean; passkeys: number }>(
    `SELECT (SELECT password_hash IS NOT NULL FROM users WHERE id = $1) AS password,
            (SELECT count(*) FROM passkeys WHERE user_id = $1)::int AS passkeys`,
    [userId],
  );
  // Social sign-in adds its table here: identities = its count for the user.
  return { password: rows[0]?.password === true, passkeys: Number(rows[0]?.passkeys ?? 0), identities: 0 };
}

/** How many ways to sign in are left; removing one when this is 1 is refused. */
export const countSignInMethods = (m: SignInMethods): number => (m.password ? 1 : 0) + m.passkeys + m.identities;
