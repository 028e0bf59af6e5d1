// HTTP load with autocannon's programmatic API. Latencies are collected from its
// 'response' events (float milliseconds) because its own histogram rounds to whole ms.
import autocannon, { type Options } from 'autocannon';
import { percentile } from './stats.ts';

export interface LoadResult {
  /** Successful (2xx) responses per second. */
  rps: number;
  ok: number;
  /** Responses that were not 2xx, plus socket errors and timeouts. */
  failed: number;
  statusCodes: Record<string, number>;
  p50: number;
  p99: number;
  seconds: number;
}

export async function load(options: Options): Promise<LoadResult> {
  const latencies: number[] = [];
  const started = performance.now();
  const instance = autocannon(options);
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const seconds = (performance.now() - started) / 1000;
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]));
  return {
    rps: latencies.length / seconds,
    ok: latencies.length,
    failed: result.non2xx + result.errors + result.timeouts,
    statusCodes,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    seconds,
  };
}
