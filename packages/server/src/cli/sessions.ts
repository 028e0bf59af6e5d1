import { parseArgs } from 'node:util';
import { systemClock } from '../clock.ts';
import { runPurge } from '../sessions/purge.ts';
import { openCliServices } from './services.ts';
import { UsageError, type Command } from './command.ts';

const CLI_CONTEXT = { userAgent: 'tessera-cli', ip: null };

export const sessionsCommand: Command = async (args, config, io, flags) => {
  const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { user: { type: 'string' }, session: { type: 'string' } } });
  const [sub, ...rest] = positionals;
  if (!sub || !['list', 'revoke', 'prune'].includes(sub)) throw new UsageError(sub ? `unknown sessions command "${sub}"` : 'sessions needs a command');
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (sub === 'prune') return prune([], config, io, flags);
  if (!values.user) throw new UsageError(`sessions ${sub} needs --user <email>`);
  const admin = await openCliServices(config);
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

/** What every replica's timer does, run now and to the end: for operators and cron. */
const prune: Command = async (_args, config, io, flags) => {
  const admin = await openCliServices(config);
  try {
    // Waits for a replica's run under way instead of failing: the operator wants it done.
    const result = await runPurge(admin.db, systemClock, { retentionSeconds: config.sessionRetention, graceSeconds: config.refreshGracePeriod }, { wait: true });
    if (!result.acquired) throw new Error('could not take the purge lock');
    const r = result.value;
    if (flags.json) {
      io.out(JSON.stringify({ ...r, retention_seconds: config.sessionRetention }));
      return;
    }
    io.out(
      `scrubbed ${r.scrubbed} sealed successor(s); deleted ${r.tokensDeleted} rotated-token hash(es) and ${r.sessionsDeleted} dead session(s) ` +
        `older than ${config.sessionRetention} s (SESSION_RETENTION), in ${r.batches} batch(es), ${Math.round(r.durationMs)} ms`,
    );
  } finally {
    await admin.close();
  }
};
