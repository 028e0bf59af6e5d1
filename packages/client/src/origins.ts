// Where the bearer token may go: Tessera's own origin and the origins the app lists in
// `apiOrigins`, and plain http: only on loopback (development). Anything else is refused
// before a request is made, so a link, a redirect target or an injected URL handed to
// auth.fetch() cannot carry the access token away.
import { TesseraError } from './errors.js';

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]` (RFC 6761, RFC 1122). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** The origin of an https URL, or of an http URL on a loopback host; a TypeError otherwise. */
export function secureOrigin(value: string | URL, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${what} must be an absolute http(s) URL`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  throw new TypeError(`${what} must be https (plain http only on a loopback host such as localhost)`);
}

/** The set of origins `fetch` attaches the bearer to; checked before every request. */
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(baseOrigin: string, apiOrigins: readonly string[] = []) {
    const origins = new Set([baseOrigin]);
    for (const entry of apiOrigins) {
      const url = secureOrigin(entry, `apiOrigins entry ${JSON.stringify(entry)}`);
      if (url.pathname !== '/' || url.search || url.hash) throw new TypeError(`apiOrigins entry ${JSON.stringify(entry)} must be an origin (scheme://host[:port]) without a path`);
      origins.add(url.origin);
    }
    this.allowed = origins;
  }

  /**
   * The absolute URL of `input` when the bearer may be sent there; a TesseraError
   * `origin_not_allowed` otherwise. A relative URL is read against the page's address.
   */
  check(input: string | URL | Request): string {
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const base = typeof location === 'undefined' ? undefined : location.href;
    let url: URL;
    try {
      url = new URL(raw, base);
    } catch {
      throw new TesseraError('origin_not_allowed', 0, 'auth.fetch() needs an absolute URL here');
    }
    if (!this.allowed.has(url.origin)) {
      throw new TesseraError('origin_not_allowed', 0, `${url.origin} is neither Tessera's origin nor listed in apiOrigins: the access token is not sent there`);
    }
    // Only reachable for a listed origin, which secureOrigin() admitted; kept as a guard.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
      throw new TesseraError('origin_not_allowed', 0, `${url.origin} is not https: the access token is not sent there`);
    }
    return url.href;
  }
}
