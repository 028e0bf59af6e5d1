import { z } from 'zod';
import { CLI_ACTOR } from '../admin/admin-service.ts';
import { rolesField } from '../admin/roles.ts';
import { AuthError } from '../errors.ts';
import { newPasswordField, parseWith, registerBody } from '../http/validation.ts';
import { openCliServices } from './services.ts';
import { UsageError, type Command } from './command.ts';

const CLI_CONTEXT = { userAgent: 'tessera-cli', ip: null };
const COMMANDS = ['create', 'disable', 'enable', 'delete', 'set-password', 'roles', 'mfa-reset', 'show'];
/** The commands that read a password from stdin. */
const READS_PASSWORD = new Set(['create', 'set-password']);

/** A client mistake (bad email, taken email, bad role name) as one line for the operator, never with the password in it. */
function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new Error(err instanceof AuthError ? err.detail : String(err));
  }
}

const plain = (err: unknown): never => {
  throw new Error(err instanceof AuthError ? err.detail : String(err));
};

// Every command goes through the admin API's own service (admin/admin-service.ts), audited
// with admin_client "tessera-cli".
export const usersCommand: Command = async ([sub, email, ...rest], config, io, flags) => {
  if (!sub || !COMMANDS.includes(sub)) throw new UsageError(sub ? `unknown users command "${sub}"` : 'users needs a command');
  if (!email) throw new UsageError(`users ${sub} needs an email`);
  if (sub !== 'roles' && rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  // Read the password before opening anything: a pipe that never closes must not hold the DB.
  const password = READS_PASSWORD.has(sub) ? (await io.readStdin()).replace(/\r?\n$/, '') : '';
  const roles = sub === 'roles' ? parsed(() => parseWith(rolesField, rest)) : [];
  const admin = await openCliServices(config);
  try {
    if (sub === 'create') {
      const body = parsed(() => parseWith(registerBody, { email, password }));
      const user = await admin.admin.create({ ...body, roles: [] }, CLI_ACTOR, CLI_CONTEXT).catch(plain);
      io.out(`created user ${user.id} <${user.email}>`);
      return;
    }
    const user = await admin.findUser(email);
    switch (sub) {
      case 'enable':
        await admin.admin.enable(user.id, CLI_ACTOR, CLI_CONTEXT);
        io.out(`enabled ${user.email}`);
        return;
      case 'disable': {
        const { sessionsEnded } = await admin.admin.disable(user.id, CLI_ACTOR, CLI_CONTEXT);
        io.out(`disabled ${user.email}; ended ${sessionsEnded} session(s) on every replica`);
        return;
      }
      case 'set-password': {
        const { password: newPassword } = parsed(() => parseWith(z.strictObject({ password: newPasswordField }), { password }));
        const count = await admin.admin.setPassword(user.id, newPassword, CLI_ACTOR, CLI_CONTEXT);
        io.out(`set the password of ${user.email}; ended ${count} session(s) on every replica`);
        return;
      }
      case 'delete': {
        const count = await admin.admin.delete(user.id, CLI_ACTOR, CLI_CONTEXT);
        io.out(`deleted ${user.email} (${user.id}); ended ${count} session(s) on every replica; the address can register again`);
        return;
      }
      case 'roles': {
        const updated = await admin.admin.setRoles(user.id, roles, CLI_ACTOR, CLI_CONTEXT);
        io.out(`roles of ${user.email}: ${updated.roles.length ? updated.roles.join(' ') : '(none)'}`);
        return;
      }
      case 'mfa-reset':
        await admin.admin.resetMfa(user.id, CLI_ACTOR, CLI_CONTEXT);
        io.out(`removed the second factor and recovery codes of ${user.email}`);
        return;
      case 'show': {
        const shown = await admin.admin.get(user.id, CLI_ACTOR, CLI_CONTEXT);
        if (flags.json) io.out(JSON.stringify(shown));
        else io.out(`${shown.id} <${shown.email}> created ${shown.created_at}${shown.disabled ? ' DISABLED' : ''}; roles: ${shown.roles.join(' ') || '(none)'}; second factor: ${shown.mfa_enabled ? 'on' : 'off'}`);
        return;
      }
    }
  } finally {
    await admin.close();
  }
};
