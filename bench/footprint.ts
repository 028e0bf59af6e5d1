// 6. Footprint: resident memory of one replica idle and under load, and the heap cost of
// the in-memory denylist mirror per 100,000 revoked sessions.
import crypto from 'node:crypto';
import { DenylistMirror } from '@tessera/verifier';
import { encodeDenylistEntry, parseDenylistEntry } from '@tessera/verifier/internal';
import { load } from './lib/load.ts';
import { rssBytes, sampleRss, type ServerProcess } from './lib/process.ts';
import { fmt, fmtMiB, sleep } from './lib/stats.ts';
import type { Section } from './lib/table.ts';

const ENTRIES = 100_000;

function collect(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  gc();
  return true;
}

/**
 * Heap bytes held by a DenylistMirror of `ENTRIES` session revocations. Each entry arrives the
 * way a replica receives it — wire JSON from Redis, parsed by redis-sync — so its id is a flat
 * 36-character UUID string (crypto.randomUUID's own result is a rope of small strings, several
 * times bigger, and would overstate the cost).
 */
export function mirrorHeapBytes(): { bytes: number; exact: boolean } {
  const exact = collect();
  const before = process.memoryUsage().heapUsed;
  const mirror = new DenylistMirror();
  const until = Date.now() + 15 * 60_000;
  for (let i = 0; i < ENTRIES; i++) {
    const entry = parseDenylistEntry(encodeDenylistEntry({ kind: 'session', id: crypto.randomUUID(), until: until + i }));
    if (entry) mirror.apply(entry);
  }
  collect();
  const after = process.memoryUsage().heapUsed;
  if (mirror.size !== ENTRIES) throw new Error('mirror lost entries');
  return { bytes: after - before, exact };
}

/**
 * `idle` is the replica's RSS measured by the caller right after start (before any bench load);
 * this function adds the peak under load and the mirror measurement.
 */
export async function benchFootprint(replica: ServerProcess, accessToken: string, idle: number, options: { seconds?: number } = {}): Promise<Section> {
  const seconds = options.seconds ?? 4;
  const stop = sampleRss(replica.pid!, 100);
  const result = await load({ url: `${replica.url}/auth/me`, headers: { authorization: `Bearer ${accessToken}` }, connections: 50, duration: seconds });
  const peak = stop();
  await sleep(1000);
  const after = rssBytes(replica.pid!);
  const mirror = mirrorHeapBytes();
  const rows = [
    { area: 'footprint', measure: 'one Tessera replica, RSS idle (after start)', figure: fmtMiB(idle), baseline: '', ratio: '', target: '' },
    { area: 'footprint', measure: `one Tessera replica, RSS peak under load (/auth/me, 50 connections, ${fmt(result.rps)} req/s)`, figure: fmtMiB(peak), baseline: `idle ${fmtMiB(idle)}`, ratio: '', target: '' },
    {
      area: 'footprint',
      measure: `denylist mirror heap per ${ENTRIES.toLocaleString('en-US')} revoked sessions`,
      figure: fmtMiB(mirror.bytes),
      baseline: '',
      ratio: `${fmt(mirror.bytes / ENTRIES)} B/entry`,
      target: '',
    },
  ];
  const details = `### 6. Footprint

RSS is VmRSS from /proc/<pid>/status of the replica's Node process (PostgreSQL and Redis not included):
idle ${fmtMiB(idle)} right after start (migrations done, one login served, before any bench load), peak ${fmtMiB(peak)} while serving
GET /auth/me at ${fmt(result.rps)} req/s (50 connections, ${seconds} s, sampled every 100 ms) at the end of the run — after
every other bench, so the heap has seen the HTTP, refresh, login and propagation loads — and ${fmtMiB(after)} one second later.
Denylist mirror: \`DenylistMirror\` from @tessera/verifier in the bench process, heapUsed before
and after applying ${ENTRIES.toLocaleString('en-US')} session revocations with UUID ids, each parsed from its Redis wire form as a
replica does (the id strings and the distinct \`until\` numbers included)${mirror.exact ? ', with a full GC (--expose-gc) before each reading' : ' — without --expose-gc, so only approximate'}:
${fmtMiB(mirror.bytes)}, ${fmt(mirror.bytes / ENTRIES)} bytes per entry.
`;
  const bounds = `- **Footprint** (no target): a replica holds ${fmtMiB(idle)} resident after start and peaks at ${fmtMiB(peak)} under
  load, running compiled JavaScript as \`npm start\` does (section 7 compares it with the sources under tsx).
  The denylist mirror costs ${fmt(mirror.bytes / ENTRIES)} bytes per revoked session, so even
  100,000 live revocations (entries live only until the access tokens they cover expire, 15 minutes by
  default) are ${fmtMiB(mirror.bytes)} per replica and per verifying service.`;
  return { rows, details, bounds };
}
