// The revocation model, in one place: what an entry is, how two entries for one subject
// merge, and how an entry is written in Redis and on the feed. The server's writer (its Lua
// script included), every mirror, the feed and the feed client all use this module, so the
// rule "a revocation only ever grows" cannot drift between copies.
// Not part of the public API beyond what redis-sync.ts / feed-sync.ts re-export.

/** One revocation. `until` (ms since epoch) is when no token it can affect is still alive. */
export type DenylistEntry =
  | { kind: 'session'; id: string; until: number }
  | { kind: 'token'; id: string; until: number }
  /** Every token of user `id` issued before `before` (seconds, compared with `iat`). */
  | { kind: 'user'; id: string; before: number; until: number };

export type DenylistEntryKind = DenylistEntry['kind'];

export const ENTRY_KINDS: readonly DenylistEntryKind[] = ['session', 'token', 'user'];

/** The subject an entry revokes: two entries with one key merge into one. */
export const entryKey = (entry: Pick<DenylistEntry, 'kind' | 'id'>): string => `${entry.kind}:${entry.id}`;

/**
 * Forward-only merge of two entries for one subject: the later `until` wins, and for a user
 * the later cut-off `before`. Commutative, associative, idempotent, so a late, replayed or
 * duplicated write can never shorten a revocation, whatever the order. (`a` gives the shape
 * when the kinds differ, which entries with one key never do.)
 */
export function mergeEntries<E extends DenylistEntry>(a: E, b: DenylistEntry): E {
  const until = Math.max(a.until, b.until);
  if (a.kind === 'user' && b.kind === 'user') return { ...a, before: Math.max(a.before, b.before), until };
  return { ...a, until };
}

/** Whether writing `a` revokes at least what `b` would (merging `b` into `a` changes nothing). */
export function coversEntry(a: DenylistEntry, b: DenylistEntry): boolean {
  if (a.until < b.until) return false;
  return b.kind !== 'user' || (a.kind === 'user' && a.before >= b.before);
}

/**
 * The same rule in Lua, for the server's write script: merges the decoded stored value
 * `known` (a table, or anything else when the stored value is foreign) into the table
 * `entry` in place. `until` is a Lua keyword, hence the brackets. Tested against
 * mergeEntries in a real Redis (revocation-model.int.test.ts).
 */
export const MERGE_ENTRY_LUA = `
if type(known) == 'table' then
  if type(known['until']) == 'number' and known['until'] > entry['until'] then entry['until'] = known['until'] end
  if entry.kind == 'user' and type(known.before) == 'number' and known.before > entry.before then entry.before = known.before end
end
`;

// ---- Redis: one key per entry, the JSON entry as its value, every write published. ----

export const DEFAULT_KEY_PREFIX = 'tessera:';

/**
 * The start of every revocation key: the prefix, then the data set's Redis Cluster hash tag.
 * The denylist keys, the feed's stream and its trimmed mark all carry `{revocations}`, so
 * they share one slot and the server's write script (which touches all three) runs on a
 * cluster as on one server. One format for every mode (one server, Sentinel, Cluster). The
 * prefix stays first (ACL key patterns such as `~tessera:*` keep working); a prefix holding
 * a brace would move the tag, which the server's configuration and the verifier refuse in
 * cluster mode.
 */
export const revocationKeyBase = (prefix: string): string => `${prefix}{revocations}`;

/**
 * The pub/sub channel every write is published on: classic PUBLISH, which a Redis Cluster
 * forwards to every node, so a subscriber on any node hears every write. A channel is not a
 * key: it carries no hash tag.
 */
export const denylistChannel = (prefix: string): string => `${prefix}denylist`;

/** `${prefix}{revocations}:deny:${kind}:${id}`, expiring at `until` (SET … PXAT). */
export const denylistKey = (prefix: string, entry: Pick<DenylistEntry, 'kind' | 'id'>): string => `${revocationKeyBase(prefix)}:deny:${entryKey(entry)}`;

/** SCAN pattern for every entry key; glob characters in the prefix are escaped (braces are not glob characters). */
export const denylistKeyPattern = (prefix: string): string => `${revocationKeyBase(prefix.replace(/[*?[\]\\]/g, '\\$&'))}:deny:*`;

/** The Redis form of an entry; `until` is rounded up because PXAT takes whole milliseconds. */
export function encodeDenylistEntry(entry: DenylistEntry): string {
  const until = Math.ceil(entry.until);
  return JSON.stringify(entry.kind === 'user' ? { kind: 'user', id: entry.id, before: entry.before, until } : { kind: entry.kind, id: entry.id, until });
}

/** Parses a stored or published entry; anything malformed yields `undefined`, never a throw. */
export function parseDenylistEntry(text: string | null | undefined): DenylistEntry | undefined {
  if (typeof text !== 'string' || text.length > 4096) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, id, until, before } = value as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0 || typeof until !== 'number' || !Number.isFinite(until)) return undefined;
  if (kind === 'session' || kind === 'token') return { kind, id, until };
  if (kind === 'user' && typeof before === 'number' && Number.isFinite(before)) return { kind, id, before, until };
  return undefined;
}

/** The optional `published_at` (ms, writer's clock) a published message adds, for lag metrics; undefined if absent. */
export function publishedAtOf(text: string): number | undefined {
  let value: unknown;
  try {
    value = (JSON.parse(text) as { published_at?: unknown } | null)?.published_at;
  } catch {
    return undefined;
  }
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

// ---- The feed (GET /revocations[/stream]): times in epoch seconds, like JWT claims. ----

export type FeedEntry =
  | { kind: 'session'; sid: string; expires_at: number }
  | { kind: 'token'; jti: string; expires_at: number }
  | { kind: 'user'; sub: string; not_before: number; expires_at: number };

/** The feed form of an entry; `expires_at` is rounded up to the second. */
export function toFeedEntry(entry: DenylistEntry): FeedEntry {
  const expires_at = Math.ceil(entry.until / 1000);
  switch (entry.kind) {
    case 'session':
      return { kind: 'session', sid: entry.id, expires_at };
    case 'token':
      return { kind: 'token', jti: entry.id, expires_at };
    case 'user':
      return { kind: 'user', sub: entry.id, not_before: entry.before, expires_at };
  }
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 1024;

/** One feed entry as the mirror holds it; `undefined` for anything else (a kind from a newer server included). */
export function parseFeedEntry(value: unknown): DenylistEntry | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Record<string, unknown>;
  if (!finite(e.expires_at)) return undefined;
  const until = e.expires_at * 1000;
  if (e.kind === 'session' && nonEmpty(e.sid)) return { kind: 'session', id: e.sid, until };
  if (e.kind === 'token' && nonEmpty(e.jti)) return { kind: 'token', id: e.jti, until };
  // The mirror compares `before` with `iat`: both in seconds, as on the wire.
  if (e.kind === 'user' && nonEmpty(e.sub) && finite(e.not_before)) return { kind: 'user', id: e.sub, before: e.not_before, until };
  return undefined;
}

/** One entry per subject, merged, in first-seen order (a feed snapshot, an outbox batch). */
export function mergeBySubject(entries: Iterable<DenylistEntry>): DenylistEntry[] {
  const byKey = new Map<string, DenylistEntry>();
  for (const entry of entries) {
    const key = entryKey(entry);
    const known = byKey.get(key);
    byKey.set(key, known ? mergeEntries(known, entry) : entry);
  }
  return [...byKey.values()];
}
