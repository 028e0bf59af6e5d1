// A signed-in user's linked identities: list and unlink. Unlinking the last way to sign in
// (password, passkey, identity) is refused, under the user's row lock so two concurrent
// unlinks of the last two identities cannot both pass the count.
import type { AuthService, RequestContext } from '../auth-service.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import { requireRecentSignIn } from '../users/recent-sign-in.ts';
import { countMethods, signInMethods } from '../users/sign-in-methods.ts';
import { userStore } from '../users/user-store.ts';
import { identityStore } from './identity-store.ts';
import type { ProviderMetrics } from './provider-metrics.ts';
import type { IdentityView } from './provider-sign-in.ts';
import type { AccessTokenClaims } from '@tessera/verifier';

export class IdentityService {
  constructor(
    private readonly deps: { db: Db; clock: Clock; auth: AuthService; metrics: ProviderMetrics | undefined },
  ) {}

  async list(claims: AccessTokenClaims): Promise<IdentityView[]> {
    return (await identityStore.listForUser(this.deps.db, claims.sub)).map((i) => ({
      id: i.id,
      provider: i.provider,
      email: i.email,
      created_at: i.createdAt.toISOString(),
    }));
  }

  async unlink(claims: AccessTokenClaims, identityId: string, ctx: RequestContext): Promise<void> {
    requireRecentSignIn(claims, this.deps.clock.now());
    const removed = await this.deps.db.transaction(async (tx) => {
      const user = await userStore.lockById(tx, claims.sub);
      const identity = user && (await identityStore.findById(tx, identityId));
      // Another user's identity answers like an unknown one.
      if (!user || !identity || identity.userId !== user.id) throw new AuthError('not_found', 'No such identity');
      if (countMethods(await signInMethods(tx, user.id)) <= 1) {
        throw new AuthError('last_sign_in_method', 'This is the last way to sign in to the account: add a password, passkey or another provider first');
      }
      return identityStore.delete(tx, identity.id, user.id);
    });
    if (!removed) throw new AuthError('not_found', 'No such identity');
    this.deps.metrics?.identityChanges.inc({ provider: removed.provider, change: 'unlinked' });
    this.deps.auth.audit('identity.unlinked', { user_id: claims.sub, session_id: claims.sid, provider: removed.provider, identity_id: removed.id }, ctx);
  }
}
