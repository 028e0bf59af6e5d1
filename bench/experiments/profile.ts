// `node --import tsx bench/experiments/profile.ts [seconds] [me|refresh|both]`: one Tessera replica under --cpu-prof while
// GET /auth/me and then POST /auth/refresh run at load, to see what bounds those figures.
// Writes the .cpuprofile to a temporary folder and prints the top self-time functions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '../lib/client.ts';
import { createInfra, createSessions, login, register, startTessera, uniqueEmail } from '../lib/cluster.ts';
import { load } from '../lib/load.ts';
import { cpuMeter } from '../lib/process.ts';
import { fmt } from '../lib/stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

function topSelf(file: string, count = 25): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber}`;
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([k, t]) => `${((t / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
}

const seconds = Number(process.argv[2] ?? 5);
const which = process.argv[3] ?? 'both';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-prof-'));
const infra = await createInfra();
const client = new Client(40);
const replica = await startTessera(infra, 'profiled', ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
try {
  const email = uniqueEmail('prof');
  await register(client, replica.url, email);
  const pair = await login(client, replica.url, email);
  if (which === 'both' || which === 'me') {
    const cpu = cpuMeter({ server: replica.pid! });
    const r = await load({ url: `${replica.url}/auth/me`, headers: { authorization: `Bearer ${pair.access_token}` }, connections: 50, duration: seconds });
    console.log(`/auth/me: ${fmt(r.rps)} req/s, p99 ${fmt(r.p99)} ms, server cores ${fmt(cpu().server!)}`);
  }
  if (which === 'both' || which === 'refresh') {
    const chains = (await createSessions(client, [replica.url], email, 32)).map((p) => p.refresh_token);
    const cpu = cpuMeter({ server: replica.pid! });
    let done = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      chains.map(async (_, i) => {
        while (performance.now() < end) {
          const res = await client.post(`${replica.url}/auth/refresh`, { refresh_token: chains[i] });
          if (res.status === 200) {
            chains[i] = (JSON.parse(res.body) as { refresh_token: string }).refresh_token;
            done++;
          }
        }
      }),
    );
    console.log(`/auth/refresh: ${fmt(done / seconds)}/s, server cores ${fmt(cpu().server!)}`);
  }
} finally {
  client.close();
  await replica.stop(undefined, 20_000);
  await infra.cleanup();
}
for (const file of fs.readdirSync(dir)) console.log(`\n${path.join(dir, file)}\n${topSelf(path.join(dir, file))}`);
