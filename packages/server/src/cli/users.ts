import { z } from 'zod';
import { AuthError } from '../errors.ts';
import { newPasswordField, parseWith, registerBody } from '../http/validation.ts';
import { userStore } from '../users/user-store.ts';
import { openAdmin } from './admin.ts';
import type { Command } from './main.ts';
import { UsageError } from './main.ts';

const CLI_CONTEXT = { userAgent: 'tessera-cli', ip: null };
const COMMANDS = ['create', 'disable', 'enable', 'delete', 'set-password'];
/** The commands that read a password from stdin. */
const READS_PASSWORD = new Set(['create', 'set-password']);

/** A validation failure as one line for the operator, never with the password in it. */
function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new Error(err instanceof AuthError ? err.detail : String(err));
  }
}

export const usersCommand: Command = async ([sub, email, ...rest], config, io) => {
  if (!sub || !COMMANDS.includes(sub)) throw new UsageError(sub ? `unknown users command "${sub}"` : 'users needs a command');
  if (!email) throw new UsageError(`users ${sub} needs an email`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  // Read the password before opening anything: a pipe that never closes must not hold the DB.
  const password = READS_PASSWORD.has(sub) ? (await io.readStdin()).replace(/\r?\n$/, '') : '';
  const admin = await openAdmin(config);
  try {
    if (sub === 'create') {
      const body = parsed(() => parseWith(registerBody, { email, password }));
      const user = await admin.auth.register(body.email, body.password, CLI_CONTEXT).catch((err: unknown) => {
        throw new Error(err instanceof AuthError ? err.detail : String(err));
      });
      io.out(`created user ${user.id} <${user.email}>`);
      return;
    }
    const user = await admin.findUser(email);
    switch (sub) {
      case 'enable':
        await userStore.setDisabled(admin.db, user.id, null);
        io.out(`enabled ${user.email}`);
        return;
      case 'disable': {
        await userStore.setDisabled(admin.db, user.id, new Date());
        const count = await admin.auth.endAllSessions(user.id, 'user_disabled', CLI_CONTEXT);
        io.out(`disabled ${user.email}; ended ${count} session(s) on every replica`);
        return;
      }
      case 'set-password': {
        const { password: newPassword } = parsed(() => parseWith(z.strictObject({ password: newPasswordField }), { password }));
        const count = await admin.account.setPassword(user.id, newPassword, CLI_CONTEXT);
        io.out(`set the password of ${user.email}; ended ${count} session(s) on every replica`);
        return;
      }
      case 'delete': {
        const count = await admin.account.deleteAccount(user.id, CLI_CONTEXT, { by: 'operator' });
        io.out(`deleted ${user.email} (${user.id}); ended ${count} session(s) on every replica; the address can register again`);
        return;
      }
    }
  } finally {
    await admin.close();
  }
};
