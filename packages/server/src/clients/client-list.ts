// The client lists of the configuration: ADMIN_CLIENTS (`id:secret,…`) and
// INTROSPECTION_CLIENTS (`id:secret[:perm+perm],…`), their parsers and zod schemas. A leaf
// (zod only): config.ts takes its schemas from here without importing the authenticator
// (client-auth.ts), whose throttle imports config.
import { z } from 'zod';

/** Parses `id:secret,id2:secret2`; a string naming the problem (never the value) when malformed. */
export function parseClientList(value: string): Map<string, string> | string {
  const clients = new Map<string, string>();
  for (const entry of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) return 'each entry must be client_id:secret';
    const id = entry.slice(0, colon);
    if (clients.has(id)) return `client_id "${id}" is listed twice`;
    clients.set(id, entry.slice(colon + 1));
  }
  return clients;
}

/** What a resource-server client (INTROSPECTION_CLIENTS) may call: /oauth/introspect, /oauth/revoke, the revocation feed. */
export const CLIENT_PERMISSIONS = ['introspect', 'revoke', 'revocations'] as const;
export type ClientPermission = (typeof CLIENT_PERMISSIONS)[number];

export interface ResourceClient {
  secret: string;
  permissions: ReadonlySet<ClientPermission>;
}

/** An entry without a permission suffix: what every client could do before permissions existed. */
const DEFAULT_PERMISSIONS: readonly ClientPermission[] = ['introspect', 'revoke'];

const isPermission = (word: string): word is ClientPermission => (CLIENT_PERMISSIONS as readonly string[]).includes(word);

/**
 * Parses `id:secret[:perm+perm],…`. The last `:…` is read as permissions only when every
 * `+`-separated word in it is a known permission, so a secret containing `:` still works;
 * without a suffix a client may introspect and revoke, as before permissions existed.
 */
export function parseResourceClients(value: string): Map<string, ResourceClient> | string {
  const list = parseClientList(value);
  if (typeof list === 'string') return list;
  const clients = new Map<string, ResourceClient>();
  for (const [id, rest] of list) {
    const colon = rest.lastIndexOf(':');
    const words = colon > 0 ? rest.slice(colon + 1).split('+') : [];
    if (words.length > 0 && words.every(isPermission)) {
      clients.set(id, { secret: rest.slice(0, colon), permissions: new Set(words) });
    } else {
      clients.set(id, { secret: rest, permissions: new Set(DEFAULT_PERMISSIONS) });
    }
  }
  return clients;
}

/** The zod schema of INTROSPECTION_CLIENTS. */
export const resourceClientListSchema = z
  .string()
  .default('')
  .transform((v, ctx) => {
    const parsed = parseResourceClients(v);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  });

/** The zod schema of a client list variable (ADMIN_CLIENTS). */
export const clientListSchema = z
  .string()
  .default('')
  .transform((v, ctx) => {
    const parsed = parseClientList(v);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  });
