// The scripted workload, the same for every architecture: N virtual users log in through the
// balancer and make authenticated requests at a steady rate; some log out, one changes its
// password; then the faults (a replica SIGKILLed and restarted, a rolling restart, the shared
// store stopped and restarted). Afterwards, without load: whether a logout and a password change
// take back a copied credential everywhere (lab/revocation.ts), the replication lag (login on A,
// first request on B), and live memory per session. Everything below is measured from the
// outside, as a user (or an operator) sees it.
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMeter } from '../bench/lib/process.ts';
import { median, percentile } from '../bench/lib/stats.ts';
import { Client, cookieProtocol, tesseraProtocol, type Credentials, type Protocol } from './lib/protocol.ts';
import { memoryPerSession, replicationLag, type MemoryFigures } from './after-load.ts';
import { logoutCopies, passwordChangeCopy, type RevocationResult } from './revocation.ts';
import type { Deployment } from './architectures/types.ts';

export interface WorkloadOptions {
  users: number;
  /** Authenticated requests per second, all users together. */
  rate: number;
  /** Seconds of fault-free steady load (mismatch, latency and CPU are measured here). */
  steadySeconds: number;
  /** Seconds a killed replica stays down before it is restarted. */
  downSeconds: number;
  /** Seconds of load after each fault's recovery before the next fault. */
  settleSeconds: number;
  /** Seconds the shared store stays stopped. */
  outageSeconds: number;
  /** Log where each fault's non-200 answers fell, relative to the fault (default: LAB_DEBUG set). */
  timelines?: boolean;
  /** Logouts whose copied credential is watched (lab/revocation.ts). */
  logoutSamples: number;
  /** Seconds a logged-out copy is presented to every replica. */
  logoutWatchSeconds: number;
  /** Seconds the other session's credential is presented after a password change. */
  passwordWatchSeconds: number;
  /** Logins timed for the replication lag. */
  lagSamples: number;
  /** Sessions created to measure memory per session (Tessera's are argon2-bound: see below). */
  memorySessions: number;
  log?: (line: string) => void;
}

export type Phase = 'warmup' | 'steady' | 'actions' | 'kill' | 'rolling' | 'outage' | 'recovery';

export interface PhaseStats {
  /** Authenticated requests sent while the user held credentials. */
  requests: number;
  ok: number;
  /** Answered "not logged in" (401). */
  unauthorized: number;
  /** Answered anything else, or no answer. */
  failed: number;
  /** Users answered "not logged in" at least once in the phase (each then logs in again). */
  usersLoggedOut: number;
  seconds: number;
}

export interface Measurements {
  users: number;
  steady: PhaseStats & { mismatch: number; p50Ms: number; p99Ms: number; cpuMsPerRequest: number };
  actions: PhaseStats & { logouts: number; passwordChanged: boolean; passwordError?: string };
  kill: PhaseStats & { restartSeconds: number };
  rolling: PhaseStats;
  /** Absent where there is no shared store to stop. */
  outage?: { down: PhaseStats; recovery: PhaseStats; usersLoggedOut: number };
  /** Copies of logged-out credentials presented to every replica for a window. */
  logout: RevocationResult;
  /** The other session's credential after a password change, presented to every replica. */
  passwordChange: RevocationResult;
  /** Per sample: ms from a login on replica A until replica B accepts the session; null = not within 2 s. */
  replicationLagMs: (number | null)[];
  memory: MemoryFigures;
  logins: { ok: number; failed: number };
}

interface User {
  name: string;
  creds: Credentials | undefined;
  /** A logout or password change in flight: the loop leaves the user alone meanwhile. */
  busy: boolean;
}

interface Sample {
  phase: Phase;
  user: string;
  status: number;
  ms: number;
  /** performance.now() when the request was sent. */
  at: number;
}

export function protocolFor(deployment: Deployment, client: Client): Protocol {
  return deployment.protocol === 'tessera' ? tesseraProtocol(client, deployment.url) : cookieProtocol(client);
}

function stats(samples: Sample[], phase: Phase, seconds: number): PhaseStats {
  const mine = samples.filter((s) => s.phase === phase);
  const loggedOut = new Set(mine.filter((s) => s.status === 401).map((s) => s.user));
  return {
    requests: mine.length,
    ok: mine.filter((s) => s.status === 200).length,
    unauthorized: mine.filter((s) => s.status === 401).length,
    failed: mine.filter((s) => s.status !== 200 && s.status !== 401).length,
    usersLoggedOut: loggedOut.size,
    seconds,
  };
}

export async function runWorkload(deployment: Deployment, options: WorkloadOptions): Promise<Measurements> {
  const log = options.log ?? (() => {});
  const client = new Client(128);
  const protocol = protocolFor(deployment, client);
  const lb = deployment.url;
  const run = `u${Date.now().toString(36)}`;
  const users: User[] = Array.from({ length: options.users }, (_, i) => ({ name: `${run}-${i}`, creds: undefined, busy: false }));
  await protocol.setup(users.map((u) => u.name));

  const samples: Sample[] = [];
  const logins = { ok: 0, failed: 0 };
  let phase: Phase = 'warmup';
  let running = true;
  const intervalMs = (options.users / options.rate) * 1000;

  const loop = async (user: User, offset: number) => {
    let next = performance.now() + offset;
    while (running) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      // Users do not click in lockstep: a regular cycle would let plain round robin pin each user
      // to one replica (or never), depending on how users and replicas divide. ±50 % jitter.
      next = Math.max(next + intervalMs * (0.5 + Math.random()), performance.now());
      if (!running) break;
      if (user.busy) continue;
      if (!user.creds) {
        try {
          user.creds = await protocol.login(user.name, lb);
          logins.ok++;
        } catch {
          logins.failed++;
        }
        continue;
      }
      const at = phase;
      const creds = user.creds;
      let status = 0;
      let ms = 0;
      const sentAt = performance.now();
      try {
        const res = await protocol.profile(user.name, creds, lb);
        status = res.status;
        ms = res.ms;
      } catch {
        status = 0;
      }
      // A 401 means the app asks the user to log in again: it does so on its next turn.
      if (status === 401 && user.creds === creds) user.creds = undefined;
      // Sent while the store was down but answered after its restart began: not "while down"
      // (a proxy listens again at once, so such a request can find the store back).
      samples.push({ phase: at === 'outage' && phase !== 'outage' ? phase : at, user: user.name, status, ms, at: sentAt });
    }
  };
  const loops = users.map((u, i) => loop(u, (i / users.length) * intervalMs));

  const marks: Record<string, number> = {};
  const timed = async (p: Phase, fn: () => Promise<void>): Promise<number> => {
    phase = p;
    const t0 = performance.now();
    marks[p] = t0;
    await fn();
    const seconds = (performance.now() - t0) / 1000;
    log(`  ${p} ${seconds.toFixed(1)} s`);
    return seconds;
  };
  // Where a fault's 401s fell, relative to the fault: which part of the fault costs users.
  const debugFault = (p: Phase, events: Record<string, number>) => {
    if (!(options.timelines ?? Boolean(process.env.LAB_DEBUG))) return;
    const t0 = marks[p]!;
    const when = samples.filter((s) => s.phase === p && s.status !== 200).map((s) => `${s.user.split("-").pop()}:${s.status}@${Math.round(s.at - t0)}`);
    log(`    ${p}: ${Object.entries(events).map(([k, v]) => `${k}@${Math.round(v - t0)}`).join(' ')} | ${when.join(' ')}`);
  };

  try {
    // Everyone logged in (or a bounded wait), then the steady phase.
    const warmDeadline = performance.now() + 30_000;
    while (users.some((u) => !u.creds) && performance.now() < warmDeadline) await sleep(50);
    await sleep(Math.min(2_000, intervalMs * 2));

    let cpu = 0;
    const steadySeconds = await timed('steady', async () => {
      // A process gone meanwhile (a pooled PostgreSQL backend closed) counts for nothing, not an error.
      const cores = cpuMeter({ servers: await deployment.serverPids() });
      const t0 = performance.now();
      await sleep(options.steadySeconds * 1000);
      cpu = cores().servers! * ((performance.now() - t0) / 1000);
    });

    // Some users log out (and come back), one changes its password.
    let passwordChanged = false;
    let passwordError: string | undefined;
    const leaving = users.filter((_, i) => i % 10 === 5);
    const actionsSeconds = await timed('actions', async () => {
      await Promise.all(
        leaving.map(async (u) => {
          if (!u.creds) return;
          u.busy = true;
          await protocol.logout(u.name, u.creds, lb).catch(() => {});
          u.creds = undefined;
          u.busy = false;
        }),
      );
      const changer = users[1]!;
      if (changer.creds) {
        changer.busy = true;
        try {
          changer.creds = await protocol.changePassword(changer.name, changer.creds, lb);
          const check = await protocol.profile(changer.name, changer.creds, lb);
          passwordChanged = check.status === 200;
          if (!passwordChanged) passwordError = `profile after the change: ${check.status}`;
        } catch (err) {
          passwordError = (err as Error).message;
        }
        changer.busy = false;
      } else {
        passwordError = 'the user was not logged in';
      }
      await sleep(1_000);
    });

    let restartSeconds = 0;
    const victim = deployment.replicas[1]!;
    const killEvents: Record<string, number> = {};
    const killSeconds = await timed('kill', async () => {
      await victim.kill();
      killEvents.killed = performance.now();
      await sleep(options.downSeconds * 1000);
      const t0 = performance.now();
      await victim.start();
      killEvents.ready = performance.now();
      restartSeconds = (performance.now() - t0) / 1000;
      await sleep(options.settleSeconds * 1000);
    });
    debugFault('kill', killEvents);

    const rollingEvents: Record<string, number> = {};
    const rollingSeconds = await timed('rolling', async () => {
      for (const replica of deployment.replicas) {
        await replica.stop();
        rollingEvents[`${replica.name}-stopped`] = performance.now();
        await replica.start();
        rollingEvents[`${replica.name}-ready`] = performance.now();
      }
      await sleep(options.settleSeconds * 1000);
    });
    debugFault('rolling', rollingEvents);

    let outage: Measurements['outage'];
    if (deployment.store) {
      const store = deployment.store;
      const outageEvents: Record<string, number> = {};
      // Requests in flight while the store shuts down count for the phase before.
      await store.stop();
      const downSeconds = await timed('outage', async () => {
        await sleep(options.outageSeconds * 1000);
      });
      const recoverySeconds = await timed('recovery', async () => {
        await store.start();
        outageEvents.restarted = performance.now();
        await sleep(options.settleSeconds * 1000);
      });
      debugFault('outage', outageEvents);
      const down = stats(samples, 'outage', downSeconds);
      const recovery = stats(samples, 'recovery', recoverySeconds);
      const loggedOut = new Set(samples.filter((s) => (s.phase === 'outage' || s.phase === 'recovery') && s.status === 401).map((s) => s.user));
      outage = { down, recovery, usersLoggedOut: loggedOut.size };
    }
    running = false;
    await Promise.all(loops);

    const steadyStats = stats(samples, 'steady', steadySeconds);
    const latencies = samples.filter((s) => s.phase === 'steady' && s.status === 200).map((s) => s.ms);
    const result: Measurements = {
      users: options.users,
      steady: {
        ...steadyStats,
        mismatch: steadyStats.requests === 0 ? Number.NaN : steadyStats.unauthorized / steadyStats.requests,
        p50Ms: median(latencies),
        p99Ms: percentile(latencies, 99),
        cpuMsPerRequest: steadyStats.requests === 0 ? Number.NaN : (cpu * 1000) / steadyStats.requests,
      },
      actions: { ...stats(samples, 'actions', actionsSeconds), logouts: leaving.length, passwordChanged, ...(passwordError ? { passwordError } : {}) },
      kill: { ...stats(samples, 'kill', killSeconds), restartSeconds },
      rolling: stats(samples, 'rolling', rollingSeconds),
      ...(outage ? { outage } : {}),
      logout: { windowSeconds: 0, samples: [] },
      passwordChange: { windowSeconds: 0, samples: [] },
      replicationLagMs: [],
      memory: { sessions: 0, replicaBytes: 0, storeBytes: 0 },
      logins,
    };
    const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const value = await fn();
      log(`  ${name} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return value;
    };
    // The logged-out copies are watched for their whole window while the rest is measured
    // (a few requests a second after the first, timed second: noise for the memory figure,
    // and the run stays short).
    const copies = logoutCopies(deployment, protocol, client, run, options);
    copies.result.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
    await step('logout copies, timed', () => copies.timed);
    result.passwordChange = await step('password change', () => passwordChangeCopy(deployment, protocol, client, run, options));
    result.replicationLagMs = await step('replication lag', () => replicationLag(deployment, protocol, run, options.lagSamples));
    result.memory = await step('memory', () => memoryPerSession(deployment, protocol, run, options.memorySessions));
    result.logout = await step('logout copies, rest of the window', () => copies.result);
    return result;
  } finally {
    running = false;
    await Promise.all(loops);
    client.close();
  }
}
