// Passkey sign-ins per second on one replica against the limit: raw node:crypto ECDSA P-256
// verify (the one signature a passkey sign-in must check), measured in the same run in
// alternating slices, medians of rounds. The replica is the real app in this process
// (buildApp on the embedded PGlite, requests through fastify.inject: no sockets), so the
// figure is the server's own work per ceremony: options (a challenge row), then the
// assertion (challenge consumed, signature, counter compare-and-set, session, RS256 access
// token). Answers come from the tests' software authenticator; its signing is timed apart
// and taken out.
//
//   node --import tsx bench/passkeys.ts [rounds] [roundMs]
import crypto from 'node:crypto';
import { buildApp } from '../packages/server/src/app.ts';
import { ManualClock } from '../packages/server/src/clock.ts';
import { configFrom } from '../packages/server/src/config.ts';
import { createPgliteDb } from '../packages/server/src/db/pglite.ts';
import { migrate } from '../packages/server/src/db/migrate.ts';
import { KeyStore } from '../packages/server/src/keys/key-store.ts';
import { createLogger } from '../packages/server/src/logger.ts';
import { MemoryDenylist } from '../packages/server/src/revocation/memory-denylist.ts';
import { SoftwareAuthenticator } from '../packages/server/test/helpers/webauthn-authenticator.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt, fmtRatio, median, rotate } from './lib/stats.ts';

const rounds = Number(process.argv[2] ?? 5);
const roundMs = Number(process.argv[3] ?? 2000);

const cpuSeconds = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
};

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-passkeys-'));
  const clock = new ManualClock(Date.now());
  const logger = createLogger('silent');
  const config = configFrom({ KEYS_DIR: path.join(dir, 'keys'), RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'silent', MAIL_DIR: path.join(dir, 'mail') }, {
    argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
  });
  const db = await createPgliteDb();
  await migrate(db);
  const keys = await KeyStore.open({ dir: config.keysDir, modulusLength: 2048, clock, logger, retiredKeyGraceSeconds: 1800 });
  const denylist = new MemoryDenylist(clock);
  await denylist.start();
  const app = await buildApp(config, { db, keys, denylist, clock, logger });
  const f = app.fastify;
  await f.ready();

  // One user, one passkey (a hardware key: its counter moves, so every sign-in does the compare-and-set).
  const email = `bench-${crypto.randomBytes(4).toString('hex')}@example.com`;
  await f.inject({ method: 'POST', url: '/auth/register', payload: { email, password: 'correct horse battery staple' } });
  const tokens = (await f.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'correct horse battery staple' } })).json() as { access_token: string };
  const authenticator = new SoftwareAuthenticator();
  const options = (await f.inject({ method: 'POST', url: '/auth/passkeys/register/options', headers: { authorization: `Bearer ${tokens.access_token}` } })).json();
  const registered = await f.inject({ method: 'POST', url: '/auth/passkeys/register', headers: { authorization: `Bearer ${tokens.access_token}` }, payload: { credential: authenticator.register(options) } });
  if (registered.statusCode !== 201) throw new Error(`registration failed: ${registered.body}`);

  // The limit: ECDSA P-256 verify of an assertion-sized message with node:crypto.
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = crypto.randomBytes(37 + 32);
  const signature = crypto.sign('sha256', message, privateKey);

  type Sample = { cpuRate: number; wallRate: number };
  const signIn = async (): Promise<Sample> => {
    let done = 0;
    let signingCpu = 0;
    const start = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < roundMs) {
      const opts = (await f.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} })).json();
      const s = process.cpuUsage();
      const credential = authenticator.assert(opts);
      signingCpu += cpuSeconds(s);
      const res = await f.inject({ method: 'POST', url: '/auth/passkeys/login', payload: { credential } });
      if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.body}`);
      done++;
    }
    const wall = (performance.now() - t0) / 1000;
    return { cpuRate: done / Math.max(1e-9, cpuSeconds(start) - signingCpu), wallRate: done / wall };
  };
  const rawVerify = async (): Promise<Sample> => {
    let done = 0;
    const start = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < roundMs) {
      for (let i = 0; i < 100; i++) if (!crypto.verify('sha256', message, publicKey, signature)) throw new Error('verify failed');
      done += 100;
    }
    const wall = (performance.now() - t0) / 1000;
    return { cpuRate: done / cpuSeconds(start), wallRate: done / wall };
  };

  await signIn(); // warm-up
  const samples: { passkey: Sample[]; raw: Sample[]; ratio: number[] } = { passkey: [], raw: [], ratio: [] };
  for (let round = 0; round < rounds; round++) {
    const results: Partial<Record<'passkey' | 'raw', Sample>> = {};
    for (const name of rotate(['passkey', 'raw'] as const, round)) results[name] = name === 'passkey' ? await signIn() : await rawVerify();
    samples.passkey.push(results.passkey!);
    samples.raw.push(results.raw!);
    samples.ratio.push(results.passkey!.cpuRate / results.raw!.cpuRate);
  }
  const m = (list: Sample[], key: keyof Sample) => median(list.map((s) => s[key]));
  console.log(`Passkey sign-in vs raw ECDSA P-256 verify — one replica in-process (buildApp + PGlite, fastify.inject), ${rounds} rounds × ${roundMs} ms, medians`);
  console.log('| contender | per CPU-second | per wall-second | ratio to raw verify (CPU) |');
  console.log('|---|---:|---:|---:|');
  console.log(`| raw node:crypto ECDSA P-256 verify (the limit) | ${fmt(m(samples.raw, 'cpuRate'))}/s | ${fmt(m(samples.raw, 'wallRate'))}/s | 1× |`);
  console.log(`| passkey sign-in (options + assertion → session + access token) | ${fmt(m(samples.passkey, 'cpuRate'))}/s | ${fmt(m(samples.passkey, 'wallRate'))}/s | ${fmtRatio(median(samples.ratio))} |`);
  console.log(`per-round ratios: ${samples.ratio.map((r) => fmtRatio(r)).join(', ')}`);
  await f.close();
  await denylist.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
