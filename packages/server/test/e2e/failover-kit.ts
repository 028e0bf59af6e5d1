// What the failover tests (Sentinel: sentinel-failover.sys.test.ts; Redis Cluster:
// cluster/redis-cluster.sys.test.ts) share: the load kept up while Redis fails over
// (startFailoverLoad), how each revocation made under it is recorded, and the ways to ask
// whether it is known (a verifier, the feed, a feed client holding a cursor).
import { expect } from 'vitest';
import { VerifyError, type Verifier } from '@tessera/verifier';
import type { TesseraProcess } from '../helpers/process.ts';
import { sleep } from '../revocation/redis-kit.ts';
import { bearerStatus, post, type Pair } from './cluster-kit.ts';

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

/** What startFailoverLoad records; `phase` labels the revocations made from then on. */
export interface FailoverLoad {
  verification: { made: number; failed: string[] };
  revocations: Revocation[];
  phase: Revocation['phase'];
  /** Ends the loops, then waits (at most 10 s) until every logout has been answered. */
  stop(): Promise<void>;
}

/**
 * The load both failover tests keep up while Redis fails over: the live token verified every
 * 20 ms on a rotating replica, by the resource service and by an in-process verifier (none of
 * which may fail); one session logged out every `revokeEveryMs` on a rotating replica; and,
 * for each revocation, when the verifier's mirror (a Redis subscriber like any service's)
 * first rejects its token.
 */
export function startFailoverLoad(o: {
  replicas: readonly TesseraProcess[];
  service: TesseraProcess;
  verifier: Verifier;
  liveToken: string;
  sessions: readonly Pair[];
  revokeEveryMs: number;
}): FailoverLoad {
  const replicas = [...o.replicas]; // the replicas under load: one started later joins no loop
  let stopping = false;
  let stoppedAt = 0;
  const load: FailoverLoad = { verification: { made: 0, failed: [] }, revocations: [], phase: 'before', stop: async () => {} };
  const { verification, revocations } = load;
  const verifyLoop = async () => {
    for (let i = 0; !stopping; i++) {
      const replica = replicas[i % replicas.length]!;
      const [status, serviceStatus, verified] = await Promise.all([
        bearerStatus(replica, o.liveToken).catch((err: Error) => err.message),
        bearerStatus(o.service, o.liveToken, true).catch((err: Error) => err.message),
        o.verifier.verify(o.liveToken).then(
          () => 'ok',
          (err: Error) => err.message,
        ),
      ]);
      verification.made += 3;
      if (status !== 200) verification.failed.push(`${replica.url}/auth/me: ${status}`);
      if (serviceStatus !== 200) verification.failed.push(`resource service: ${serviceStatus}`);
      if (verified !== 'ok') verification.failed.push(`verifier: ${verified}`);
      await sleep(20);
    }
  };
  const revokeLoop = async () => {
    for (let i = 0; !stopping && i < o.sessions.length; i++) {
      const pair = o.sessions[i]!;
      const revocation: Revocation = { sid: sidOf(pair.access_token), token: pair.access_token, phase: load.phase, sentAt: performance.now(), status: 0 };
      revocations.push(revocation);
      // 503: applied on that replica, not yet confirmed by Redis (kept in its outbox). Still made.
      void post(replicas[i % replicas.length]!.url, '/auth/logout', { refresh_token: pair.refresh_token })
        .then((res) => (revocation.status = res.status))
        .catch(() => (revocation.status = -1));
      await sleep(o.revokeEveryMs);
    }
  };
  const watchLoop = async () => {
    while (!stopping || revocations.some((r) => r.seenAt === undefined)) {
      for (const r of revocations) if (r.seenAt === undefined && (await isRevokedBy(o.verifier, r.token))) r.seenAt = performance.now();
      await sleep(25);
      if (stopping && performance.now() - stoppedAt > 10_000) break;
    }
  };
  const loops = [verifyLoop(), revokeLoop(), watchLoop()];
  load.stop = async () => {
    stopping = true;
    stoppedAt = performance.now();
    await Promise.all(loops);
    const deadline = performance.now() + 10_000;
    while (revocations.some((r) => r.status === 0) && performance.now() < deadline) await sleep(50);
  };
  return load;
}

/** The session id an access token carries. */
export const sidOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

/** Waits (at most 10 s each) until every replica's /readyz says its denylist is in step again. */
export async function expectDenylistsInStep(replicas: readonly TesseraProcess[]): Promise<void> {
  for (const replica of replicas) {
    const until = performance.now() + 10_000;
    let denylist = '';
    while (denylist !== 'ok' && performance.now() < until) {
      denylist = ((await (await fetch(`${replica.url}/readyz`)).json()) as { denylist: string }).denylist;
      if (denylist !== 'ok') await sleep(100);
    }
    expect(denylist, replica.url).toBe('ok');
  }
}
