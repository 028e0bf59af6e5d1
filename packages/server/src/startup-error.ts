// A start that fails on infrastructure says which variable pointed at it and where that is,
// so an operator knows what to fix: `DATABASE_URL (postgres://app@db:5432/auth): connect
// ECONNREFUSED …`. The target never carries a password, and neither does the cause.

/** Why the process could not start, and the setting at fault. */
export class StartupError extends Error {
  constructor(
    /** The environment variable at fault (DATABASE_URL, REDIS_URL, PORT…). */
    readonly variable: string,
    /** Where it points, without credentials. */
    readonly target: string,
    cause: unknown,
    hint?: string,
  ) {
    super(`${variable} (${target}): ${causeText(cause)}${hint ? `; ${hint}` : ''}`, { cause });
    this.name = 'StartupError';
  }
}

function causeText(cause: unknown): string {
  if (cause instanceof Error) {
    // AggregateError (pg tries every address of a host) has an empty message of its own.
    const inner = (cause as { errors?: unknown[] }).errors;
    if (!cause.message && Array.isArray(inner) && inner[0] instanceof Error) return inner[0].message;
    // An adapter's typed error (InfrastructureError) says what failed; its cause says why.
    if (cause.cause !== undefined && cause.cause !== cause) return `${cause.message}: ${causeText(cause.cause)}`;
    return cause.message;
  }
  return String(cause);
}

/** `url` with its password removed (the user name stays: it helps and is no secret). */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '';
    return parsed.toString();
  } catch {
    // Not a URL we can parse: drop everything between // and @.
    return url.replace(/\/\/[^/@\s]*@/, '//');
  }
}

/** The password of `url`, decoded, to scrub it from a cause; undefined if none. */
export function passwordOf(url: string): string | undefined {
  try {
    const password = new URL(url).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

/** Runs `work`; any failure becomes a StartupError naming `variable` and `target`. */
export async function atStart<T>(variable: string, target: string, work: () => Promise<T>, secrets: (string | undefined)[] = []): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(variable, target, scrub(err, secrets));
  }
}

/** The cause with every secret in its message replaced, in case a driver quotes one. */
function scrub(err: unknown, secrets: (string | undefined)[]): unknown {
  let text = causeText(err);
  let changed = false;
  for (const secret of secrets) {
    if (secret && text.includes(secret)) {
      text = text.split(secret).join('[redacted]');
      changed = true;
    }
  }
  return changed ? new Error(text) : err;
}
