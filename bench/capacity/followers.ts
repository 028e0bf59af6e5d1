// Followers of the revocation feed (GET /revocations/stream, SSE), as resource services run
// them: each holds one stream open and counts the revocation events it receives.
import http from 'node:http';

export interface Followers {
  /** Revocation events received, summed over every follower. */
  received(): number;
  close(): void;
}

export async function openFollowers(baseUrl: string, client: { id: string; secret: string }, count: number): Promise<Followers> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: count });
  const requests: http.ClientRequest[] = [];
  let received = 0;
  const authorization = `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const req = http.get(`${baseUrl}/revocations/stream`, { agent, headers: { authorization, accept: 'text/event-stream' } }, (res) => {
            if (res.statusCode !== 200) {
              reject(new Error(`feed stream: ${res.statusCode}`));
              res.resume();
              return;
            }
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              received += chunk.split('event: revocation\n').length - 1;
            });
            res.on('error', () => {});
            resolve();
          });
          req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
          requests.push(req);
        }),
    ),
  );
  return {
    received: () => received,
    close() {
      for (const req of requests) req.destroy();
      agent.destroy();
    },
  };
}
