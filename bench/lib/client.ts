// A lean keep-alive HTTP client for the flows autocannon cannot express (token chains,
// polling): node:http with a pooled Agent, timings from performance.now().
import http from 'node:http';

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** Request sent → last byte of the response, milliseconds. */
  ms: number;
  /** performance.now() when the response was complete. */
  at: number;
}

export class Client {
  readonly agent: http.Agent;

  constructor(maxSockets = 64) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(method: string, url: string, options: { headers?: Record<string, string>; json?: unknown; timeoutMs?: number } = {}): Promise<Reply> {
    const body = options.json === undefined ? undefined : JSON.stringify(options.json);
    const headers: Record<string, string> = { ...options.headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const at = performance.now();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, ms: at - started, at });
        });
      });
      req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${url} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  get(url: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request('GET', url, headers ? { headers } : {});
  }

  post(url: string, json?: unknown, headers?: Record<string, string>): Promise<Reply> {
    return this.request('POST', url, { ...(headers ? { headers } : {}), json });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `task(i)` for i in 0..count-1 with at most `concurrency` at a time. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
