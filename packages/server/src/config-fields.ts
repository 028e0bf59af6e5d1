// Config fields with rules of their own: the structured-value parsers the env schema is built
// from (seconds, boolean words, URLs, proxies, browser origins), the derived issuer, and which
// variables may hold a secret (never echoed in a configuration error).
import net from 'node:net';
import { z } from 'zod';

/** A lifetime or interval in whole seconds, above zero. */
export const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const booleanWords = z.enum(['true', 'false', '1', '0', 'yes', 'no']);
const isTrue = (v: z.infer<typeof booleanWords>) => v === 'true' || v === '1' || v === 'yes';
export const boolean = (fallback: boolean) => booleanWords.default(fallback ? 'true' : 'false').transform(isTrue);
/** A boolean whose absence matters (a default taken from another variable, or refused in some mode). */
export const optionalBoolean = booleanWords.optional().transform((v) => (v === undefined ? undefined : isTrue(v)));

/** A URL with one of these schemes (`http:`, …); refused otherwise, so a typo fails at start. */
export const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL with scheme ${protocols.join(' or ')}` },
  );

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
/**
 * Whom to believe about the client address. `true` trusts every hop, so the leftmost
 * X-Forwarded-For entry wins: right only when the proxy in front overwrites the header.
 * The proxies' addresses or CIDRs (or proxy-addr's names `loopback`, `linklocal`,
 * `uniquelocal`) stay right when it appends, and a client's own X-Forwarded-For cannot
 * fool them: the address is the rightmost one not in the list.
 */
export const trustProxy = z
  .string()
  .default('false')
  .transform((v, ctx): boolean | string[] => {
    const value = v.trim().toLowerCase();
    if (['false', 'no', '0'].includes(value)) return false;
    if (['true', 'yes', '1'].includes(value)) return true;
    const list = value.split(',').map((s) => s.trim()).filter(Boolean);
    const valid = (entry: string) => {
      if (PROXY_NAMES.includes(entry)) return true;
      const [address = '', prefix] = entry.split('/');
      return net.isIP(address) !== 0 && (prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= 128));
    };
    if (list.length === 0 || !list.every(valid)) {
      ctx.addIssue({ code: 'custom', message: 'must be true, false, or a comma-separated list of proxy addresses/CIDRs' });
      return z.NEVER;
    }
    return list;
  });

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
const MAY_HOLD_A_SECRET = /URL|SECRET|PASSWORD|USERNAME|TOKEN|CLIENTS|SENTINEL|CLUSTER_NODES|CREDENTIAL/;
export const isSecretVariable = (name: string): boolean => SECRET_VARIABLES.has(name) || MAY_HOLD_A_SECRET.test(name);
