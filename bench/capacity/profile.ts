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

const PERF_CATEGORIES: [string, RegExp][] = [
  ['RSA signature (OpenSSL, thread pool)', /ossl_|^bn_|^BN_|rsa|__bn_|^RSA|EVP_/],
  ['SHA-256, AES-GCM, random (OpenSSL)', /sha256|SHA256|aes|gcm|ghash|RAND|drbg|chacha/i],
  ['kernel: syscalls, scheduling, network (loopback TCP, pipes)', /^\[k\]/],
  ['GC (V8 scavenger, mark-compact)', /Scavenge|MarkCompact|Heap::|heap::|Sweeper|Marking|Evacuat|MemoryChunk|ConcurrentMarking/],
  ['V8 compiler (JIT)', /compiler::|Turbofan|Maglev|CompileLazy|Baseline(Batch)?Compil|interpreter::|Parser|Scanner/],
  ['logging (pino, redaction)', /pino|redact|sonic-boom/],
  ['pg driver', /node_modules\/(pg|pg-protocol|pg-types|postgres-date|pg-pool)\//],
  ['ioredis', /ioredis|redis-parser|denque/],
  ['Fastify and plugins (helmet, cors, cookie, rate-limit)', /fastify|find-my-way|helmet|avvio|light-my-request|secure-json-parse|toad-cache|@fastify/],
  ['zod', /node_modules\/zod\//],
  ['prom-client', /prom-client/],
  ['Tessera (dist)', /packages\/(server|verifier)\/dist\//],
  ['JSON (V8 stringify/parse)', /Json(Stringifier|Parser)/],
  ['Node HTTP, streams, net (JS)', /node:(_http|http|net|internal\/(streams|http|stream_base)|stream|events|internal\/timers)/],
  ['libc: malloc, memcpy, write', /malloc|free|memmove|memcpy|memset|chunk|__GI___|__libc|pthread|futex|epoll|lll_lock|cond_/],
  ['V8 runtime and builtins (property access, calls, strings)', /^(Builtins_|v8::|JS:|node::|uv_|Runtime_)/],
];

/** `perf report` of a `perf record -g -p <replica>` (node --perf-basic-prof): self CPU by category. */
export function summarisePerf(report: string): { name: string; share: number }[] {
  const categories = new Map<string, number>();
  for (const line of report.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\[[.k]\])\s+(.*)$/.exec(line);
    if (!m) continue;
    const symbol = m[2] === '[k]' ? `[k] ${m[3]}` : m[3]!;
    const name = PERF_CATEGORIES.find(([, p]) => p.test(symbol))?.[0] ?? 'other';
    categories.set(name, (categories.get(name) ?? 0) + Number(m[1]) / 100);
  }
  return [...categories].sort((a, b) => b[1] - a[1]).map(([name, share]) => ({ name, share }));
}
