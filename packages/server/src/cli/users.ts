import { AuthError } from '../errors.ts';
import { parseWith, registerBody } from '../http/validation.ts';
import { userStore } from '../users/user-store.ts';
import { openAdmin } from './admin.ts';
import type { Command } from './main.ts';
import { UsageError } from './main.ts';


export const usersCommand: Command = async ([sub, email, ...rest], config, io) => {
  if (!sub || !['create', 'disable', 'enable'].includes(sub)) throw new UsageError(sub ? `unknown users command "${sub}"` : 'users needs a command');
  if (!email) throw new UsageError(`users ${sub} needs an email`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  // Read the password before opening anything: a pipe that never closes must not hold the DB.
  const password = sub === 'create' ? (await io.readStdin()).replace(/\r?\n$/, '') : '';
  const admin = await openAdmin(config);
  try {
    if (sub === 'create') {
      let body;
      try {
        body = parseWith(registerBody, { email, password });
      } catch (err) {
        throw new Error(err instanceof AuthError ? err.detail : String(err));
      }
      const user = await admin.auth.register(body.email, body.password, { userAgent: 'tessera-cli', ip: null }).catch((err: unknown) => {
        throw new Error(err instanceof AuthError ? err.detail : String(err));
      });
      io.out(`created user ${user.id} <${user.email}>`);
      return;
    }
    const user = await admin.findUser(email);
    if (sub === 'enable') {
      await userStore.setDisabled(admin.db, user.id, null);
      io.out(`enabled ${user.email}`);
      return;
    }
    await userStore.setDisabled(admin.db, user.id, new Date());
    const count = await admin.auth.endAllSessions(user.id, 'user_disabled', { userAgent: 'tessera-cli', ip: null });
    io.out(`disabled ${user.email}; ended ${count} session(s) on every replica`);
  } finally {
    await admin.close();
  }
};
