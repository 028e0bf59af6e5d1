// What an operator can do to accounts, for the admin API and the `tessera users` commands
// alike: one method per action, each audited with who did it (`admin_client`: the admin
// client's id, or `tessera-cli`).
import type { AccountService } from '../account/account-service.ts';
import type { AuthService, RequestContext } from '../auth-service.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import { mfaStore } from '../mfa/mfa-store.ts';
import type { PasskeyService, PasskeyView } from '../passkeys/passkey-service.ts';
import { userStore } from '../users/user-store.ts';
import { adminStore, type AdminUserRow, type UserCursor } from './admin-store.ts';

/** Who acts, for the audit line. */
export interface AdminActor {
  clientId: string;
}

export const CLI_ACTOR: AdminActor = { clientId: 'tessera-cli' };

export interface AdminUserView {
  id: string;
  email: string;
  created_at: string;
  disabled: boolean;
  disabled_at: string | null;
  roles: string[];
  mfa_enabled: boolean;
}

export interface UserPage {
  users: AdminUserView[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

const view = (u: AdminUserRow): AdminUserView => ({
  id: u.id,
  email: u.email,
  created_at: u.createdAt.toISOString(),
  disabled: u.disabledAt !== null,
  disabled_at: u.disabledAt?.toISOString() ?? null,
  roles: u.roles,
  mfa_enabled: u.mfaEnabled,
});

/** Cursors are opaque to clients: base64url of the last row's sort key. */
export function encodeCursor(c: UserCursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.id])).toString('base64url');
}

export function decodeCursor(text: string): UserCursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && !Number.isNaN(Date.parse(createdAt)) && typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) {
      return { createdAt, id };
    }
  } catch {
    // fall through
  }
  throw new AuthError('validation_failed', 'cursor: is not a cursor this API returned', { errors: [{ field: 'cursor', message: 'is not valid' }] });
}

export class AdminService {
  constructor(
    private readonly deps: {
      db: Db;
      auth: AuthService;
      clock: Clock;
      /** Account deletion and operator set-password live with account recovery (account/). */
      account: Pick<AccountService, 'deleteAccount' | 'setPassword'>;
      /** Passkeys are account data the operator lists and removes (a lost or stolen authenticator). */
      passkeys?: Pick<PasskeyService, 'listOf' | 'removeOf'>;
    },
  ) {}

  async list(options: { query?: string | undefined; cursor?: string | undefined; limit: number }, actor: AdminActor, ctx: RequestContext): Promise<UserPage> {
    const cursor = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    // One more than asked tells whether there is a next page.
    const rows = await adminStore.listUsers(this.deps.db, { query: options.query, cursor, limit: options.limit + 1 });
    const page = rows.slice(0, options.limit);
    const last = page.at(-1);
    this.audit('admin.users_listed', null, actor, ctx, { count: page.length, search: options.query !== undefined });
    return {
      users: page.map(view),
      next_cursor: rows.length > options.limit && last ? encodeCursor({ createdAt: last.createdAt.toISOString(), id: last.id }) : null,
    };
  }

  async get(userId: string, actor: AdminActor, ctx: RequestContext): Promise<AdminUserView> {
    const user = await this.find(userId);
    this.audit('admin.user_read', userId, actor, ctx);
    return user;
  }

  async create(input: { email: string; password: string; roles: string[] }, actor: AdminActor, ctx: RequestContext): Promise<AdminUserView> {
    const created = await this.deps.auth.register(input.email, input.password, ctx);
    if (input.roles.length > 0) await this.deps.db.transaction((tx) => adminStore.setRoles(tx, created.id, input.roles));
    this.audit('admin.user_created', created.id, actor, ctx, { roles: input.roles });
    return this.find(created.id);
  }

  /** Disables the account and ends every session and access token of it, on every replica. */
  async disable(userId: string, actor: AdminActor, ctx: RequestContext): Promise<AdminUserView & { sessionsEnded: number }> {
    if (!(await userStore.setDisabled(this.deps.db, userId, new Date(this.deps.clock.now())))) throw this.notFound();
    // After the flag: a login racing with us either opened its session before (ended here)
    // or finds the account disabled.
    const ended = await this.deps.auth.endAllSessions(userId, `disabled_by:${actor.clientId}`, ctx);
    this.audit('admin.user_disabled', userId, actor, ctx, { sessions_ended: ended });
    return { ...(await this.find(userId)), sessionsEnded: ended };
  }

  /**
   * Deletes the user and everything theirs, and denies their access tokens everywhere
   * (AccountService.deleteAccount, as DELETE /auth/account does). Returns how many sessions ended.
   */
  async delete(userId: string, actor: AdminActor, ctx: RequestContext): Promise<number> {
    const ended = await this.deps.account.deleteAccount(userId, ctx, { by: actor === CLI_ACTOR ? 'operator' : 'admin' });
    this.audit('admin.user_deleted', userId, actor, ctx, { sessions_ended: ended });
    return ended;
  }

  /** Sets a new password and ends every session and access token of the user (AccountService.setPassword). */
  async setPassword(userId: string, password: string, actor: AdminActor, ctx: RequestContext): Promise<number> {
    const ended = await this.deps.account.setPassword(userId, password, ctx);
    this.audit('admin.password_set', userId, actor, ctx, { sessions_ended: ended });
    return ended;
  }

  async enable(userId: string, actor: AdminActor, ctx: RequestContext): Promise<AdminUserView> {
    if (!(await userStore.setDisabled(this.deps.db, userId, null))) throw this.notFound();
    this.audit('admin.user_enabled', userId, actor, ctx);
    return this.find(userId);
  }

  /**
   * Replaces the roles. New tokens carry them from the next refresh on; when a role is
   * taken away, every access token issued before now is refused everywhere at once (the
   * sessions live on, so clients simply refresh into tokens without it).
   */
  async setRoles(userId: string, roles: string[], actor: AdminActor, ctx: RequestContext): Promise<AdminUserView> {
    // Through the end of this second: a refresh that read the old roles just before our
    // commit issues its token within this second, and no session is revoked to catch it.
    // A client refreshing again within the same second gets a refused token once more.
    // Recorded with the change (durable outbox), published after the commit.
    const revocations = this.deps.auth.userRevocations({ throughThisSecond: true });
    const before = await this.deps.db.transaction(async (tx) => {
      const previous = await adminStore.setRoles(tx, userId, roles);
      if (previous?.some((r) => !roles.includes(r))) await revocations.recordUser(tx, userId, []);
      return previous;
    });
    if (!before) throw this.notFound();
    const removed = before.filter((r) => !roles.includes(r));
    if (removed.length > 0) await revocations.publish();
    this.audit('admin.roles_set', userId, actor, ctx, { roles, removed });
    return this.find(userId);
  }

  /** Removes the second factor and its recovery codes (a user who lost their authenticator). */
  async resetMfa(userId: string, actor: AdminActor, ctx: RequestContext): Promise<AdminUserView> {
    await this.find(userId);
    const removed = await this.deps.db.transaction((tx) => mfaStore.removeFactor(tx, userId));
    this.audit('admin.mfa_reset', userId, actor, ctx, { had_factor: removed });
    return this.find(userId);
  }

  async listPasskeys(userId: string, actor: AdminActor, ctx: RequestContext): Promise<PasskeyView[]> {
    const passkeys = await this.passkeys().listOf(userId);
    this.audit('admin.user_read', userId, actor, ctx, { passkeys: passkeys.length });
    return passkeys;
  }

  /**
   * Removes one passkey of the user. The last way to sign in stays (409 last_sign_in_method):
   * set a password first (PUT /admin/users/{id}/password) to take a passwordless account's
   * last passkey away.
   */
  async removePasskey(userId: string, passkeyId: string, actor: AdminActor, ctx: RequestContext): Promise<void> {
    await this.find(userId);
    await this.passkeys().removeOf(userId, passkeyId, { by: 'admin', adminClient: actor.clientId }, ctx);
  }

  private passkeys(): NonNullable<AdminService['deps']['passkeys']> {
    if (!this.deps.passkeys) throw new AuthError('not_found', 'Passkeys are not available here');
    return this.deps.passkeys;
  }

  /** Ends every session and access token of the user on every replica; returns how many sessions. */
  async endSessions(userId: string, actor: AdminActor, ctx: RequestContext): Promise<number> {
    await this.find(userId);
    const ended = await this.deps.auth.endAllSessions(userId, `ended_by:${actor.clientId}`, ctx);
    this.audit('admin.sessions_ended', userId, actor, ctx, { sessions_ended: ended });
    return ended;
  }

  private async find(userId: string): Promise<AdminUserView> {
    const user = await adminStore.findUser(this.deps.db, userId);
    if (!user) throw this.notFound();
    return view(user);
  }

  private notFound(): AuthError {
    return new AuthError('not_found', 'No such user');
  }

  private audit(event: Parameters<AuthService['audit']>[0], userId: string | null, actor: AdminActor, ctx: RequestContext, extra: Record<string, unknown> = {}): void {
    this.deps.auth.audit(event, { user_id: userId, admin_client: actor.clientId, ...extra }, ctx);
  }
}
