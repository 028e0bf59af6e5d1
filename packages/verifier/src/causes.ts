// What went wrong underneath a 503, as one loggable line: the chain of `cause`s (fetch wraps
// ECONNREFUSED in "fetch failed"), with codes, and never the credentials of a URL.

const CREDENTIALS_IN_URL = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi;

export interface CauseSummary {
  message: string;
  code?: string;
}

/** The messages and codes of `err` and its causes, outermost first (at most 5 levels). */
export function describeCause(err: unknown): CauseSummary | undefined {
  const parts: string[] = [];
  let code: string | undefined;
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      const own = (current as { code?: unknown }).code;
      if (typeof own === 'string') code ??= own;
      current = (current as { cause?: unknown }).cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  if (parts.length === 0) return undefined;
  const message = parts.join(': ').replace(CREDENTIALS_IN_URL, '$1[redacted]@');
  return code === undefined ? { message } : { message, code };
}
