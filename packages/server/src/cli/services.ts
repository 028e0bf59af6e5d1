import { createRecovery } from '../account/recovery.ts';
import { AdminService } from '../admin/admin-service.ts';
import { AuthService } from '../auth-service.ts';
import { systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import { migrate } from '../db/migrate.ts';
import { createLogger } from '../logger.ts';
import { openDb, openDenylist } from '../runtime.ts';
import { SessionService, sessionLifetimes } from '../sessions/session-service.ts';
import { PasswordHasher } from '../users/password.ts';
import { UserService } from '../users/user-service.ts';
import { userStore, type User } from '../users/user-store.ts';
import { normalizeEmail } from '../users/user-service.ts';

/** The services an operator command needs: SQL and the shared denylist, no HTTP, no keys. */
export async function openCliServices(config: Config) {
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const db = await openDb(config);
  await migrate(db);
  const denylist = await openDenylist(config, systemClock, logger, db);
  const users = new UserService(db, new PasswordHasher(config.argon2), systemClock);
  const sessions = new SessionService(db, systemClock, sessionLifetimes(config));
  // No drainer runs here: mail an operator command queues is sent by the server replicas.
  const recovery = createRecovery(config, { db, clock: systemClock, logger });
  const auth = new AuthService({
    users,
    sessions,
    issueAccessToken: () => Promise.reject(new Error('operator commands do not issue tokens')),
    denylist,
    clock: systemClock,
    logger,
    clientId: config.clientId,
    accessTokenTtl: config.accessTokenTtl,
    emailVerification: recovery.verificationHooks,
  });
  const { account } = recovery.services({ users, sessions, auth });
  return {
    db,
    users,
    sessions,
    auth,
    account,
    /** The admin API's own service: the commands do what its routes do, audited as `tessera-cli`. */
    admin: new AdminService({ db, auth, clock: systemClock, account }),
    async findUser(emailOrId: string): Promise<User> {
      const user = /^[0-9a-f-]{36}$/i.test(emailOrId)
        ? await userStore.findById(db, emailOrId)
        : await userStore.findByEmail(db, normalizeEmail(emailOrId));
      if (!user) throw new Error(`no user ${emailOrId}`);
      return user;
    },
    async close() {
      await recovery.close();
      await denylist.close();
      await db.close();
    },
  };
}
