// The linking rules (pre-account-takeover): who a provider's answer signs in, or links to.
//  - An identity already linked signs its user in.
//  - Otherwise an account with the same email is linked only when the provider asserts the
//    email verified AND the local account's email is verified; else `account_exists`
//    (whoever registered the address first must prove it, or sign in and link).
//  - With no such account, a user is created without a password.
// Two replicas completing the same first sign-in race on UNIQUE(email) and
// UNIQUE(provider, subject); the loser starts over and finds the winner's rows.
import crypto from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import { EmailTakenError, userStore, type User } from '../users/user-store.ts';
import { IdentityTakenError, identityStore, type Identity } from './identity-store.ts';
import type { ProviderProfile } from './provider.ts';

export interface Resolution {
  user: User;
  identity: Identity;
  /** What changed: a new user (with its identity), a new link, or nothing (already linked). */
  outcome: 'created' | 'linked' | 'existing';
}

const ATTEMPTS = 3;

export class IdentityLinker {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Sign-in: the user this answer signs in. Throws account_exists, email_required. */
  async resolve(provider: string, profile: ProviderProfile): Promise<Resolution> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.resolveOnce(provider, profile);
      } catch (err) {
        // Another replica created the user or the identity meanwhile: look again.
        const raced = err instanceof EmailTakenError || err instanceof IdentityTakenError;
        if (!raced || attempt >= ATTEMPTS) throw raced ? new AuthError('account_exists', 'An account with this email already exists') : err;
      }
    }
  }

  /** Link (a signed-in user started the flow): the identity goes to `userId`. Throws identity_taken. */
  async link(provider: string, profile: ProviderProfile, userId: string): Promise<Resolution> {
    const user = await userStore.findById(this.db, userId);
    if (!user) throw new AuthError('invalid_token', 'The account that started the link no longer exists');
    const existing = await identityStore.find(this.db, provider, profile.subject);
    if (existing) return this.sameUser(existing, user);
    try {
      const identity = await identityStore.insert(this.db, this.newIdentity(user.id, provider, profile));
      return { user, identity, outcome: 'linked' };
    } catch (err) {
      if (!(err instanceof IdentityTakenError)) throw err;
      const winner = await identityStore.find(this.db, provider, profile.subject);
      if (!winner) throw err;
      return this.sameUser(winner, user);
    }
  }

  private sameUser(identity: Identity, user: User): Resolution {
    if (identity.userId !== user.id) throw new AuthError('identity_taken', 'This provider account is already linked to another account');
    return { user, identity, outcome: 'existing' };
  }

  private async resolveOnce(provider: string, profile: ProviderProfile): Promise<Resolution> {
    const linked = await identityStore.find(this.db, provider, profile.subject);
    if (linked) {
      const user = await userStore.findById(this.db, linked.userId);
      // Deleted between the two reads: the cascade took the identity too; start over.
      if (!user) throw new IdentityTakenError();
      return { user, identity: linked, outcome: 'existing' };
    }
    if (!profile.email) throw new AuthError('email_required', 'The provider gave no email address to create the account with');
    const local = await userStore.findByEmail(this.db, profile.email);
    if (local) {
      if (!profile.emailVerified || local.emailVerifiedAt === null) {
        throw new AuthError('account_exists', 'An account with this email already exists: sign in to it, then link this provider');
      }
      const identity = await identityStore.insert(this.db, this.newIdentity(local.id, provider, profile));
      return { user: local, identity, outcome: 'linked' };
    }
    const email = profile.email;
    return this.db.transaction(async (tx) => {
      const now = new Date(this.clock.now());
      const user = await userStore.insert(tx, { id: crypto.randomUUID(), email, passwordHash: null, now, emailVerified: profile.emailVerified });
      const identity = await identityStore.insert(tx, this.newIdentity(user.id, provider, profile));
      return { user, identity, outcome: 'created' as const };
    });
  }

  private newIdentity(userId: string, provider: string, profile: ProviderProfile): Identity {
    return { id: crypto.randomUUID(), userId, provider, subject: profile.subject, email: profile.email, createdAt: new Date(this.clock.now()) };
  }
}
