// Can a session be taken back? Two probes, the same for every architecture, run after the load:
// - logout: log in, keep a copy of what the browser holds (cookie, or access and refresh
//   token), log out through the balancer, then present the copy to every replica directly
//   (Tessera: every application replica, and every Tessera replica's /auth/me and
//   /auth/refresh) for a whole window; which still accept it at the end, and when each stopped.
// - password change: log in twice as the same user, change the password with one session,
//   present the OTHER session's credential everywhere the same way.
// A copy that works is what an attacker with a stolen cookie or token has.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Deployment } from './architectures/types.ts';
import type { Client, Credentials, Protocol } from './lib/protocol.ts';
import type { Reply } from '../bench/lib/client.ts';

/** Somewhere a copied credential can be presented. */
export interface CopyTarget {
  name: string;
  /** Presenting it once uses it up when accepted (a refresh token rotates): presented until accepted, then not again. */
  oneShot?: boolean;
  present(user: string, creds: Credentials): Promise<Reply>;
}

/** What one watched copy did: per target, the answers over the window. */
export interface CopyWatch {
  targets: number;
  /** Targets that accepted the copy just before the logout or password change (where it worked at all). */
  acceptedBefore: number;
  /** Targets still accepting the copy when the window ended. */
  acceptingAtEnd: number;
  /**
   * ms from the logout's (password change's) answer until every target refused it for good: the
   * latest, over the targets, of when the first presentation refused after the last accepted one
   * was sent (every presentation sent later was refused too); null: not within the window.
   * Send times, not answer times: nine answers at once on a loaded machine take tens of ms
   * each, which says nothing about when the session ended.
   */
  refusedEverywhereMs: number | null;
  /** ms after the answer of the last acceptance anywhere (null: none). */
  lastAcceptedMs: number | null;
}

export interface RevocationResult {
  windowSeconds: number;
  samples: CopyWatch[];
  /** Why the probe could not run (round robin with memory sessions: the password change found no session). */
  error?: string;
}

export interface RevocationOptions {
  /** Copies watched after a logout, concurrently. */
  logoutSamples: number;
  /** Seconds each logout's copy is presented (the full profile: 30). */
  logoutWatchSeconds: number;
  /** Seconds the other session's credential is presented after the password change. */
  passwordWatchSeconds: number;
}

/** Where a copy is presented: every replica (Tessera: every application and Tessera replica). */
export function copyTargets(deployment: Deployment, protocol: Protocol, client: Client): CopyTarget[] {
  const apps: CopyTarget[] = deployment.replicaUrls.map((url) => ({ name: url, present: (user, creds) => protocol.profile(user, creds, url) }));
  if (deployment.protocol !== 'tessera') return apps;
  const bearer = (creds: Credentials) => ({ authorization: `Bearer ${creds.kind === 'tessera' ? creds.access : ''}` });
  return [
    ...apps,
    ...deployment.loginUrls.map((url): CopyTarget => ({ name: `${url}/auth/me`, present: (_u, creds) => client.request('GET', `${url}/auth/me`, { headers: bearer(creds), timeoutMs: 10_000 }) })),
    ...deployment.loginUrls.map(
      (url): CopyTarget => ({
        name: `${url}/auth/refresh`,
        oneShot: true,
        present: (_u, creds) => client.post(`${url}/auth/refresh`, { refresh_token: creds.kind === 'tessera' ? creds.refresh : '' }),
      }),
    ),
  ];
}

/** Uses `creds` once on every target that is not one-shot; how many accepted it. */
async function useEverywhere(targets: CopyTarget[], user: string, creds: Credentials): Promise<number> {
  let accepted = 0;
  for (const t of targets) {
    if (t.oneShot) {
      accepted++; // not presented (it would rotate): a live refresh token is accepted by definition
      continue;
    }
    const res = await t.present(user, creds).catch(() => undefined);
    if (res?.status === 200) accepted++;
  }
  return accepted;
}

/**
 * Presents `creds` to every target from `t0` until `windowMs` later: quickly in the first second
 * (to time a refusal to the millisecond), then every 500 ms (to see whether it stays refused).
 * 200 is accepted, 401 refused; anything else (a 503 from a store) tells nothing and is ignored.
 */
async function watchCopy(targets: CopyTarget[], user: string, creds: Credentials, t0: number, windowMs: number, acceptedBefore: number): Promise<CopyWatch> {
  const per = await Promise.all(
    targets.map(async (target) => {
      const answers: { at: number; sent: number; accepted: boolean }[] = [];
      while (performance.now() - t0 < windowMs) {
        const sent = performance.now() - t0;
        const res = await target.present(user, creds).catch(() => undefined);
        const at = (res?.at ?? performance.now()) - t0;
        if (res?.status === 200 || res?.status === 401) answers.push({ at, sent, accepted: res.status === 200 });
        if (target.oneShot && res?.status === 200) break;
        const accepted = answers.at(-1)?.accepted ?? true;
        await sleep(at < 1_000 ? (accepted ? 0 : 20) : 500);
      }
      return answers;
    }),
  );
  let acceptingAtEnd = 0;
  let refusedAll = true;
  let refusedEverywhereMs = 0;
  let lastAcceptedMs: number | null = null;
  for (const answers of per) {
    const lastAccept = answers.findLastIndex((a) => a.accepted);
    if (lastAccept >= 0) lastAcceptedMs = Math.max(lastAcceptedMs ?? 0, answers[lastAccept]!.at);
    const last = answers.at(-1);
    if (!last || last.accepted) {
      if (last) acceptingAtEnd++;
      refusedAll = false;
      continue;
    }
    // Refused for good: the first refusal after the last acceptance.
    refusedEverywhereMs = Math.max(refusedEverywhereMs, Math.max(0, answers[lastAccept + 1]!.sent));
  }
  return { targets: targets.length, acceptedBefore, acceptingAtEnd, refusedEverywhereMs: refusedAll ? refusedEverywhereMs : null, lastAcceptedMs };
}

/**
 * `count` users log in, use their session everywhere, log out; each copy is watched for the
 * window, all at once. `timed` settles once every copy has had its first second of quick
 * presentations (when the refusal times are taken): the caller waits for it before it loads the
 * replicas with anything else (Tessera's argon2 logins would otherwise delay the answers timed).
 */
export function logoutCopies(
  deployment: Deployment,
  protocol: Protocol,
  client: Client,
  run: string,
  options: RevocationOptions,
): { timed: Promise<void>; result: Promise<RevocationResult> } {
  const targets = copyTargets(deployment, protocol, client);
  const users = Array.from({ length: options.logoutSamples }, (_, i) => `${run}-logout-${i}`);
  let markTimed = () => {};
  const timed = new Promise<void>((resolve) => (markTimed = resolve));
  const result = (async () => {
    try {
      if (deployment.protocol === 'tessera') await protocol.setup(users);
      const sessions = [];
      for (const user of users) {
        const creds = await protocol.login(user, deployment.url);
        sessions.push({ user, creds, acceptedBefore: await useEverywhere(targets, user, creds) });
      }
      const watches: Promise<CopyWatch>[] = [];
      for (const { user, creds, acceptedBefore } of sessions) {
        const copy = structuredClone(creds);
        const res = await protocol.logout(user, creds, deployment.url);
        if (res.status >= 300) throw new Error(`logout answered ${res.status}`);
        watches.push(watchCopy(targets, user, copy, res.at, options.logoutWatchSeconds * 1000, acceptedBefore));
        // Staggered, so the logouts do not all land in the same millisecond.
        await sleep(50);
      }
      void sleep(1_000).then(markTimed);
      return { windowSeconds: options.logoutWatchSeconds, samples: await Promise.all(watches) };
    } finally {
      markTimed();
    }
  })();
  return { timed, result };
}

/** One user, two sessions; the password changed with the first; the second's credential watched. */
export async function passwordChangeCopy(deployment: Deployment, protocol: Protocol, client: Client, run: string, options: RevocationOptions): Promise<RevocationResult> {
  const targets = copyTargets(deployment, protocol, client);
  const user = `${run}-password`;
  if (deployment.protocol === 'tessera') await protocol.setup([user]);
  const changer = await protocol.login(user, deployment.url);
  const other = await protocol.login(user, deployment.url);
  const acceptedBefore = await useEverywhere(targets, user, other);
  // Through the balancer, as a browser would; where sessions live on one replica only, the
  // request may land elsewhere and be answered 401: the user tries again, a few times.
  let changed = false;
  let lastError = '';
  for (let attempt = 0; attempt < 10 && !changed; attempt++) {
    try {
      await protocol.changePassword(user, changer, deployment.url);
      changed = true;
    } catch (err) {
      lastError = (err as Error).message;
    }
  }
  if (!changed) return { windowSeconds: options.passwordWatchSeconds, samples: [], error: `the password change failed 10 times (${lastError})` };
  const t0 = performance.now();
  const watched = await watchCopy(targets, user, other, t0, options.passwordWatchSeconds * 1000, acceptedBefore);
  return { windowSeconds: options.passwordWatchSeconds, samples: [watched] };
}

/** The share of (copy, target) pairs still accepting at the end of the window. */
export function acceptingShare(r: RevocationResult): number {
  const total = r.samples.reduce((n, s) => n + s.targets, 0);
  return total === 0 ? Number.NaN : r.samples.reduce((n, s) => n + s.acceptingAtEnd, 0) / total;
}
