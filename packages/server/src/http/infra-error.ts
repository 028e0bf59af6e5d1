// What to log when an infrastructure failure (PostgreSQL down, a connection reset) or a bug
// becomes a 5xx answer: the client gets a clean problem, the operator needs the cause. Only
// messages, codes and the stack are kept (an error object can carry a client's
// configuration), and any credentials in a URL are cut out.

const CREDENTIALS_IN_URL = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi;

export interface InfraCause {
  message: string;
  code?: string;
  /** Where the error was raised (the outermost error's stack trace). */
  stack?: string;
}

const redacted = (text: string, max: number) => text.replace(CREDENTIALS_IN_URL, '$1[redacted]@').slice(0, max);

/** The messages and codes of an error, its `cause` chain and AggregateError members (bounded), and its stack. */
export function infraCause(err: unknown): InfraCause {
  const messages: string[] = [];
  const codes: string[] = [];
  const visit = (e: unknown, depth: number) => {
    if (depth > 4 || e === null || e === undefined || messages.length >= 8) return;
    if (!(e instanceof Error)) {
      messages.push(String(e));
      return;
    }
    if (e.message) messages.push(e.message);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !codes.includes(code)) codes.push(code);
    for (const inner of (e as { errors?: unknown[] }).errors ?? []) visit(inner, depth + 1);
    visit((e as { cause?: unknown }).cause, depth + 1);
  };
  visit(err, 0);
  const message = redacted([...new Set(messages)].join('; '), 1000);
  const stack = err instanceof Error && err.stack ? { stack: redacted(err.stack, 4000) } : {};
  return codes.length > 0 ? { message, code: codes.join(','), ...stack } : { message, ...stack };
}
