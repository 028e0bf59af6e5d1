import { parseArgs } from 'node:util';
import { openAdmin } from './admin.ts';
import type { Command } from './main.ts';
import { UsageError } from './main.ts';

const CLI_CONTEXT = { userAgent: 'tessera-cli', ip: null };

export const sessionsCommand: Command = async (args, config, io, flags) => {
  const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { user: { type: 'string' }, session: { type: 'string' } } });
  const [sub, ...rest] = positionals;
  if (!sub || !['list', 'revoke'].includes(sub)) throw new UsageError(sub ? `unknown sessions command "${sub}"` : 'sessions needs a command');
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (!values.user) throw new UsageError(`sessions ${sub} needs --user <email>`);
  const admin = await openAdmin(config);
  try {
    const user = await admin.findUser(values.user);
    if (sub === 'list') {
      const sessions = await admin.sessions.listLive(user.id);
      if (flags.json) {
        io.out(JSON.stringify(sessions));
        return;
      }
      io.out(`${sessions.length} live session(s) for ${user.email}`);
      for (const s of sessions) {
        io.out(`${s.id}  created ${s.createdAt.toISOString()}  last used ${s.lastUsedAt.toISOString()}  ${s.ip ?? '-'}  ${s.userAgent ?? '-'}`);
      }
      return;
    }
    if (values.session) {
      const session = await admin.sessions.findById(values.session);
      if (!session || session.userId !== user.id) throw new Error(`no session ${values.session} for ${user.email}`);
      await admin.auth.endSession(session.id, 'revoked_by_operator', CLI_CONTEXT);
      io.out(`ended session ${session.id} on every replica`);
      return;
    }
    const count = await admin.auth.endAllSessions(user.id, 'revoked_by_operator', CLI_CONTEXT);
    io.out(`ended ${count} session(s) of ${user.email} on every replica`);
  } finally {
    await admin.close();
  }
};
