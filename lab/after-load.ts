// Measured after the load, without it: the replication lag (a login on replica A, the first
// request on replica B) and the live memory per session. (Whether a logout or a password
// change takes back a copied credential is lab/revocation.ts.)
import type { Deployment } from './architectures/types.ts';
import type { Credentials, Protocol } from './lib/protocol.ts';

/** Bytes per session; `boundedBytes` per session until `boundedCap` sessions per replica, then flat. */
export interface MemoryFigures {
  sessions: number;
  replicaBytes: number;
  storeBytes: number;
  boundedBytes?: number;
  boundedCap?: number;
}

/** Two samples in a row that never happened: the architecture does not do it; stop waiting. */
const neverTwice = (out: (number | null)[]) => out.length >= 2 && out.at(-1) === null && out.at(-2) === null;

export async function replicationLag(deployment: Deployment, protocol: Protocol, run: string, count: number): Promise<(number | null)[]> {
  const out: (number | null)[] = [];
  const n = deployment.replicaUrls.length;
  for (let i = 0; i < count; i++) {
    const user = `${run}-lag-${i}`;
    if (deployment.protocol === 'tessera') await protocol.setup([user]);
    const a = i % n;
    const b = (i + 1) % n;
    const t0 = performance.now();
    const creds = await protocol.login(user, deployment.loginUrls[a]!);
    const loggedIn = performance.now();
    let lag: number | null = null;
    while (performance.now() - loggedIn < 2_000) {
      const res = await protocol.profile(user, creds, deployment.replicaUrls[b]!).catch(() => undefined);
      if (res?.status === 200) {
        lag = res.at - loggedIn;
        break;
      }
    }
    void t0;
    out.push(lag);
    if (neverTwice(out)) break;
  }
  return out;
}

/**
 * Live memory before and after `count` more sessions, divided by the sessions created. Tessera's
 * sessions cost an argon2 login each, so it creates fewer (a quarter, at least 100), spread over 10
 * users; each token is also verified once on every application replica, so the verifiers' caches
 * (bounded: 10,000 tokens per replica in the example service) are counted too.
 */
export async function memoryPerSession(deployment: Deployment, protocol: Protocol, run: string, count: number): Promise<MemoryFigures> {
  const tessera = deployment.protocol === 'tessera';
  const sessions = tessera ? Math.max(100, Math.round(count / 4)) : count;
  const owners = Array.from({ length: tessera ? 10 : sessions }, (_, i) => `${run}-mem-${i}`);
  if (tessera) await protocol.setup(owners);
  const held: Credentials[] = [];
  const create = async (i: number) => {
    const user = owners[i % owners.length]!;
    const creds = await protocol.login(user, deployment.url);
    held.push(creds);
    if (tessera) for (const url of deployment.replicaUrls) await protocol.profile(user, creds, url);
  };
  // A fifth more first, not counted: one-time growth (code paths, pools, caches warming up)
  // would otherwise be divided among the sessions.
  await poolOf(Math.round(sessions / 5), tessera ? 4 : 16, create);
  const before = await deployment.liveBytes();
  await poolOf(sessions, tessera ? 4 : 16, create);
  const after = await deployment.liveBytes();
  const memory: MemoryFigures = { sessions, replicaBytes: (after.replicas - before.replicas) / sessions, storeBytes: (after.store - before.store) / sessions };
  if (after.bounded && before.bounded) {
    memory.boundedBytes = (after.bounded.bytes - before.bounded.bytes) / sessions;
    // Every session's token sits in every replica's cache: the caches are full at `cap` sessions.
    memory.boundedCap = after.bounded.capPerReplica;
  }
  return memory;
}

async function poolOf(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(count, concurrency) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}
