// Config fields with rules of their own: browser origins, the derived issuer, and which
// variables may hold a secret (never echoed in a configuration error).
import net from 'node:net';
import { z } from 'zod';

/**
 * Browser origins, as browsers send them in `Origin`: scheme://host[:port], lower-case, no
 * default port, nothing after. An entry with a trailing slash or in capitals is normalised
 * (it would otherwise never match); one with a path, a query or credentials is refused.
 */
export const origins = z
  .string()
  .default('')
  .transform((v, ctx) => {
    const normalised: string[] = [];
    for (const entry of v.split(',').map((s) => s.trim()).filter(Boolean)) {
      let url: URL | undefined;
      try {
        url = new URL(entry);
      } catch {
        // reported below
      }
      if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.pathname !== '/' || url.search || url.hash || entry.endsWith('?') || entry.endsWith('#')) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not an origin (http(s)://host[:port], with nothing after it)` });
        continue;
      }
      normalised.push(url.origin);
    }
    return [...new Set(normalised)];
  });

/** ISSUER when unset: where this process can be reached, as far as it knows (HOST, PORT). */
export function derivedIssuer(host: string, port: number): string {
  const local = ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost'].includes(host);
  const name = local ? 'localhost' : net.isIPv6(host) ? `[${host}]` : host;
  return new URL(`http://${name}:${port}`).origin;
}

// Variables that can carry a secret (a password in a URL, client secrets, the ACL user names
// that go with a password: half a credential is still not for logs): a problem with one
// names the variable and the problem, never the value. The pattern also covers variables
// added later under the usual names.
const SECRET_VARIABLES = new Set(['DATABASE_URL', 'REDIS_URL', 'INTROSPECTION_CLIENTS', 'ADMIN_CLIENTS', 'MFA_ENCRYPTION_KEY']);
const MAY_HOLD_A_SECRET = /URL|SECRET|PASSWORD|USERNAME|TOKEN|CLIENTS|SENTINEL|CREDENTIAL/;
export const isSecretVariable = (name: string): boolean => SECRET_VARIABLES.has(name) || MAY_HOLD_A_SECRET.test(name);
