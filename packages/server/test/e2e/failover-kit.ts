// What the failover tests (Sentinel: sentinel-failover.sys.test.ts; Redis Cluster:
// cluster/redis-cluster.sys.test.ts) share: how a revocation made under load is recorded, and
// the ways to ask whether it is known (a verifier, the feed, a feed client holding a cursor).
import { expect } from 'vitest';
import { VerifyError, type Verifier } from '@tessera/verifier';
import type { TesseraProcess } from '../helpers/process.ts';
import { sleep } from '../revocation/redis-kit.ts';

/** The feed's client in both tests (INTROSPECTION_CLIENTS `id:secret:introspect+revocations`). */
export const FEED_CLIENT = { id: 'feed-reader', secret: 'feed-secret' };
const feedAuthorization = `Basic ${Buffer.from(`${FEED_CLIENT.id}:${FEED_CLIENT.secret}`).toString('base64')}`;

export interface Revocation {
  sid: string;
  token: string;
  phase: 'before' | 'during' | 'after';
  /** performance.now() when the logout was sent. */
  sentAt: number;
  status: number;
  /** When the in-process verifier's mirror first rejected the token. */
  seenAt?: number;
}

export async function isRevokedBy(verifier: Verifier, token: string): Promise<boolean> {
  try {
    await verifier.verify(token);
    return false;
  } catch (err) {
    if (err instanceof VerifyError && err.code === 'revoked') return true;
    throw err;
  }
}

/**
 * The sids the revocation feed (GET /revocations, branch issue-feed) lists, or undefined when
 * this build has no feed (404). One function, so the check is one call in the test below.
 */
export async function feedSessionIds(replica: TesseraProcess): Promise<Set<string> | undefined> {
  const auth = feedAuthorization;
  const ids = new Set<string>();
  let after: string | undefined;
  for (let page = 0; page < 100; page++) {
    const res = await fetch(`${replica.url}/revocations${after === undefined ? '' : `?after=${encodeURIComponent(after)}`}`, { headers: { authorization: auth } });
    if (res.status === 404) return undefined;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { entries: { kind: string; sid?: string }[]; next: string; more?: boolean };
    for (const entry of body.entries) if (entry.kind === 'session' && entry.sid) ids.add(entry.sid);
    if (!body.more) return ids;
    after = body.next;
  }
  throw new Error('the feed did not end within 100 pages');
}

/**
 * A polling feed client that holds a cursor across the failover: its set of revoked sids is
 * replaced by a snapshot, grown by incremental pages. Undefined when there is no feed.
 */
export function followFeed(replicas: TesseraProcess[], stopped: () => boolean): { sids: Set<string>; snapshots: number; done: Promise<void> } {
  const auth = feedAuthorization;
  const state = { sids: new Set<string>(), snapshots: 0, done: Promise.resolve() };
  state.done = (async () => {
    let cursor: string | undefined;
    for (let i = 0; ; i++) {
      const last = stopped();
      try {
        const res = await fetch(`${replicas[i % replicas.length]!.url}/revocations${cursor === undefined ? '' : `?after=${encodeURIComponent(cursor)}`}`, { headers: { authorization: auth } });
        if (res.ok) {
          const page = (await res.json()) as { snapshot: boolean; entries: { kind: string; sid?: string }[]; next: string; more?: boolean };
          if (page.snapshot) {
            state.snapshots++;
            state.sids = new Set();
          }
          for (const entry of page.entries) if (entry.kind === 'session' && entry.sid) state.sids.add(entry.sid);
          cursor = page.next;
          if (page.more) continue;
        }
      } catch {
        // a replica busy or restarting: poll again
      }
      if (last) return;
      await sleep(200);
    }
  })();
  return state;
}

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
