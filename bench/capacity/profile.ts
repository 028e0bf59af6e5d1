// Summarises a V8 CPU profile (node --cpu-prof) of a replica: self time by category (Fastify,
// the pg driver, crypto, logging, zod, Node's HTTP and sockets, GC, …) and the top frames.
// The profile samples the main thread only: RSA signing on the libuv thread pool is not in it.
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES: [string, RegExp][] = [
  ['logging (pino, redaction, stdout)', /node_modules\/(pino|sonic-boom|fast-redact|@pinojs|thread-stream|safe-stable-stringify|fast-json-stringify)|\/logger\.js/],
  ['pg driver', /node_modules\/(pg|pg-protocol|pg-types|postgres-[a-z]+|pg-pool)\//],
  ['Fastify and its plugins', /node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request|fast-querystring|toad-cache|process-warning|rfdc|abstract-logging|helmet|fast-uri|ajv|fast-decode-uri-component|secure-json-parse|content-type|vary)/],
  ['zod', /node_modules\/zod\//],
  ['cookie', /node_modules\/cookie/],
  ['prom-client (metrics)', /node_modules\/(prom-client|tdigest|bintrees)/],
  ['Node HTTP, streams, sockets', /^node:(_http|http|net|stream|internal\/(http|streams|stream_base|net|js_stream|timers|async_hooks|process|event_target|events|buffer|dns|url|util))|^node:(events|buffer|url|util)/],
  ['Node crypto (JS side)', /^node:(crypto|internal\/crypto)/],
  ['Tessera (dist)', /packages\/(server|verifier)\/dist\//],
];

export interface ProfileSummary {
  totalMs: number;
  categories: { name: string; ms: number; share: number }[];
  top: { frame: string; ms: number; share: number }[];
}

function categorise(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8/native, unattributed';
  for (const [name, pattern] of CATEGORIES) if (pattern.test(url)) return name;
  if (url === '' && /^(stringify|parse)$/.test(functionName)) return 'JSON (builtins)';
  if (url === '') return `builtins and native (${functionName || 'anonymous'})`;
  if (url.includes('node_modules/')) return `other modules (${/node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? url})`;
  if (url.startsWith('node:')) return 'Node internals, other';
  return 'other';
}

/**
 * Self time per category and per frame, idle excluded; `top` frames by self time. Only the
 * samples between `fromMs` and `toMs` after the profile's start count (the load's window,
 * not the start-up).
 */
export function summariseProfile(file: string, options: { top?: number; fromMs?: number; toMs?: number } = {}): ProfileSummary {
  const top = options.top ?? 15;
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    at += delta;
    if (at < (options.fromMs ?? 0) || at > (options.toMs ?? Infinity)) return;
    self.set(id, (self.get(id) ?? 0) + delta);
  });
  const categories = new Map<string, number>();
  const frames = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    const category = categorise(node);
    if (category === 'idle') continue;
    total += ms;
    categories.set(category, (categories.get(category) ?? 0) + ms);
    const where = node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*packages\//, 'packages/');
    const frame = `${node.callFrame.functionName || '(anonymous)'} ${where}:${node.callFrame.lineNumber + 1}`;
    frames.set(frame, (frames.get(frame) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total,
    categories: sorted(categories).map(([name, ms]) => ({ name, ms, share: ms / total })),
    top: sorted(frames)
      .slice(0, top)
      .map(([frame, ms]) => ({ frame, ms, share: ms / total })),
  };
}

/**
 * `perf script -F tid,ip,sym,dso` of a `perf record -g -p <replica>` (node --perf-basic-prof):
 * each CPU sample charged to its nearest JavaScript caller's package (pg, pino, fastify, a
 * Tessera module, a Node internal), so the kernel time of a socket write counts for whoever
 * wrote; samples with no JavaScript frame are RSA (the thread pool), GC, the JIT, or native.
 */
export function attributePerf(script: string): { name: string; share: number }[] {
  const counts = new Map<string, number>();
  let total = 0;
  for (const sample of script.trim().split(/\n\s*\n/)) {
    const frames = sample.split('\n').slice(1).map((l) => l.trim());
    if (frames.length === 0) continue;
    total++;
    let key: string | undefined;
    for (const frame of frames) {
      const js = /JS:[*~^+]?\S* (\S+?):\d+:\d+/.exec(frame);
      if (!js) continue;
      const where = js[1]!;
      const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(where)?.[1];
      key = pkg ?? (where.includes('packages/server/dist/') ? `tessera: ${where.split('dist/')[1]}` : where.startsWith('node:') ? where : 'other JavaScript');
      break;
    }
    if (key === undefined) {
      const top = frames.slice(0, 8).join(' ');
      if (/ossl_|\bbn_|BN_|rsa_|RSA_/.test(frames[0]!)) key = 'RSA signature (thread pool)';
      else if (/Scaveng|MarkCompact|Sweeper|Marking|Evacuat|Heap::/.test(top)) key = 'GC';
      else if (/compiler::|Compil|Maglev|Turbofan/.test(frames.join(' '))) key = 'JIT compiler';
      else key = 'native, no JavaScript caller (event loop, syscalls, libc)';
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ name, share: n / total }));
}

const GROUPS: [string, RegExp][] = [
  ['RSA signature (thread pool) and its dispatch', /^RSA|^node:internal\/crypto\/sig/],
  ['pg driver', /^(pg|pg-protocol|pg-pool|pg-types|postgres-[a-z]+)$/],
  ['logging (pino, redaction, stdout)', /^(pino|@pinojs\/.*|sonic-boom|fast-redact|node:fs)$/],
  ['Fastify and plugins (helmet, cors, cookie, rate-limit)', /^(fastify|@fastify\/.*|helmet|find-my-way|secure-json-parse|toad-cache|light-my-request|fast-querystring)$/],
  ['Node HTTP, sockets, streams', /^node:(_http|http|net|internal\/streams|internal\/stream_base|stream|events|internal\/process\/task_queues|buffer|internal\/timers)/],
  ['SHA-256, AES-GCM, random (refresh token, seal, jti)', /^node:(crypto|internal\/crypto)/],
  ['ioredis (the failure counter)', /^(ioredis|redis-parser|denque|cluster-key-slot)$/],
  ['Tessera (auth-service, tokens, sessions, metrics, audit)', /^tessera: /],
  ['zod', /^zod$/],
  ['prom-client', /^prom-client$/],
];

/** attributePerf's rows in a few groups (the rest under their own name). */
export function groupAttribution(rows: { name: string; share: number }[]): { name: string; share: number }[] {
  const out = new Map<string, number>();
  for (const r of rows) {
    const group = GROUPS.find(([, p]) => p.test(r.name))?.[0] ?? r.name;
    out.set(group, (out.get(group) ?? 0) + r.share);
  }
  return [...out].sort((a, b) => b[1] - a[1]).map(([name, share]) => ({ name, share }));
}
