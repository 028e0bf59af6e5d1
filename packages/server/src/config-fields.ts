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

/**
 * WEBAUTHN_ORIGINS: what a passkey ceremony's clientDataJSON may name as its origin. Web
 * origins as browsers write them (normalised like CORS_ORIGINS), and native apps' own:
 * `android:apk-key-hash:<base64url SHA-256 of the signing certificate>` (iOS apps use the
 * web origin of their associated domain).
 */
export const webauthnOrigins = z
  .string()
  .optional()
  .transform((v, ctx): string[] | undefined => {
    if (v === undefined) return undefined;
    const list: string[] = [];
    for (const entry of v.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (/^android:apk-key-hash:[A-Za-z0-9_-]{43}$/.test(entry)) {
        list.push(entry);
        continue;
      }
      let url: URL | undefined;
      try {
        url = new URL(entry);
      } catch {
        // reported below
      }
      if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is neither a web origin (https://host[:port]) nor android:apk-key-hash:<43 base64url characters>` });
        continue;
      }
      list.push(url.origin);
    }
    if (list.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one origin' });
    return [...new Set(list)];
  });

/** Whether `host` is the RP ID or a subdomain of it (WebAuthn: the RP ID is a registrable suffix of the origin's host). */
export function hostMatchesRpId(host: string, rpId: string): boolean {
  return host === rpId || host.endsWith(`.${rpId}`);
}

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
