// REDIRECT_ALLOWLIST: where a sign-in may send the browser back. Entries are URL prefixes
// compared as URLs, not as strings: "https://app.example" must not let
// "https://app.example.evil.com" or "https://app.example@evil.com" through.

export interface AllowedPrefix {
  protocol: string;
  host: string;
  /** Path prefix; always ends with "/" so "/app" does not allow "/application". */
  path: string;
}

/** Parses the comma list; a bad entry goes to `problems`. Default: the origin of APP_URL. */
export function parseRedirectAllowlist(value: string | undefined, appUrl: string, problems: string[]): AllowedPrefix[] {
  const entries = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) entries.push(new URL(appUrl).origin);
  const allowed: AllowedPrefix[] = [];
  for (const entry of entries) {
    const url = tryUrl(entry);
    if (!url || url.username || url.password || url.search || url.hash || !url.host) {
      problems.push(`REDIRECT_ALLOWLIST: "${entry.replace(/\/\/[^/@\s]*@/, '//[redacted]@')}" must be a URL prefix with a host and no query, fragment or credentials (e.g. https://app.example.com/auth or myapp://auth)`);
      continue;
    }
    allowed.push({ protocol: url.protocol, host: url.host, path: url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/` });
  }
  return allowed;
}

/** The URL to redirect to when it is allowed (parsed, normalised); undefined otherwise. */
export function allowedRedirect(candidate: string, allowlist: readonly AllowedPrefix[]): URL | undefined {
  const url = tryUrl(candidate);
  if (!url || url.username || url.password || url.hash || candidate.includes('#')) return undefined;
  const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  const ok = allowlist.some((a) => a.protocol === url.protocol && a.host === url.host && path.startsWith(a.path));
  return ok ? url : undefined;
}

function tryUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
