// `tessera` — operator commands. Exit codes: 0 done, 1 failed, 2 usage error.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { UsageError, type CliIo, type Command } from './command.ts';
import { keysCommand } from './keys.ts';
import { mailCommand } from './mail.ts';
import { sessionsCommand } from './sessions.ts';
import { usersCommand } from './users.ts';

// runCli's callers (tessera.ts, tests) give it a CliIo.
export type { CliIo } from './command.ts';

export const HELP = `Usage: tessera <group> <command> [options]

  keys generate                 create a signing key if keys/ has none
  keys rotate                   add the next key; it signs after the JWKS cache lifetime
  keys list                     every key with its state (pending, active, retiring, expired)
  keys prune                    delete the files of keys that are no longer published

  users create <email>          create a user; the password is read from stdin
  users disable <email>         disable a user and end all of their sessions
  users enable <email>          enable a disabled user
  users set-password <email>    set a new password (read from stdin); ends every session
  users delete <email>          delete a user, their sessions and tokens, on every replica
  users roles <email> [role...] set the user's roles (none: remove them all)
  users mfa-reset <email>       remove the user's second factor and recovery codes
  users show <email>            the user as the admin API shows it

  sessions list --user <email>  live sessions of a user
  sessions revoke --user <email> [--session <id>]
                                end one or every session of a user, on every replica
  sessions prune                delete dead sessions and rotated-token hashes older than
                                SESSION_RETENTION now (every replica also does it on a timer)

  mail list                     the mail written to MAIL_DIR (no SMTP_URL), oldest first, numbered
  mail show <n|latest>          one mail decoded: From, To, Subject, Date and its text, links whole

Options:
  --json      machine-readable output (list and show commands)
  -h, --help  this help

Configuration comes from the same environment variables as the server
(docs/operate/configuration.md in the Tessera repository).`;

const GROUPS: Record<string, Command> = { keys: keysCommand, users: usersCommand, sessions: sessionsCommand, mail: mailCommand };

export async function runCli(argv: string[], io: CliIo, env: Record<string, string | undefined> = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        user: { type: 'string' },
        session: { type: 'string' },
      },
    });
  } catch (err) {
    io.err(`tessera: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const [group, ...rest] = parsed.positionals;
  if (parsed.values.help || !group) {
    (parsed.values.help ? io.out : io.err)(HELP);
    return parsed.values.help ? 0 : 2;
  }
  const command = GROUPS[group];
  if (!command) {
    io.err(`tessera: unknown command group "${group}"\n\n${HELP}`);
    return 2;
  }
  try {
    const config = loadConfig({ LOG_LEVEL: 'warn', ...env });
    const extra = [
      ...(parsed.values.user !== undefined ? ['--user', parsed.values.user] : []),
      ...(parsed.values.session !== undefined ? ['--session', parsed.values.session] : []),
    ];
    await command([...rest, ...extra], config, io, { json: parsed.values.json ?? false });
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tessera: ${err.message}\n\n${HELP}`);
      return 2;
    }
    io.err(`tessera: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
    return 1;
  }
}
