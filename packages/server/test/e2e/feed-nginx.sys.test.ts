// The revocation feed through the real balancer (nginx with deploy/nginx-proxy.conf, whose
// proxy_read_timeout is 30 s): events arrive unbuffered, and a stream left idle for longer
// than that read timeout stays open thanks to the keep-alive comments.
import { expect, it } from 'vitest';
import { nginx, skipUnless } from '../../../../test/lib/requirements.ts';
import { basic, FEED_CLIENT, FEED_CLIENTS_ENV, SseStream } from '../revocation/feed-kit.ts';
import { sleep } from '../revocation/redis-kit.ts';
import { post, registerAndLogin, useBalancedCluster } from './cluster-kit.ts';

/** deploy/nginx-proxy.conf's proxy_read_timeout, plus a margin. */
const IDLE_MS = 33_000;

skipUnless(nginx)('revocation feed behind nginx', () => {
  const { cluster } = useBalancedCluster('feed-nginx', {
    replicas: 2,
    env: { RATE_LIMIT_ENABLED: 'false', INTROSPECTION_CLIENTS: FEED_CLIENTS_ENV, REVOCATION_FEED_HEARTBEAT_SECONDS: '5' },
  });

  it('streams live through the balancer and outlives its read timeout while idle', async () => {
    const lb = cluster().url;
    const stream = await SseStream.open(`${lb}/revocations/stream`, basic(FEED_CLIENT));
    try {
      expect(stream.response.status).toBe(200);
      await stream.until(() => stream.snapshots().length === 1, 'the snapshot through nginx');

      const first = await registerAndLogin(lb);
      let since = performance.now();
      expect((await post(lb, '/auth/logout', { refresh_token: first.pair.refresh_token })).status).toBe(204);
      await stream.until(() => stream.revocations().length === 1, 'a live revocation through nginx');
      console.log(`revocation through nginx, unbuffered: ${(performance.now() - since).toFixed(0)} ms`);

      await sleep(IDLE_MS);
      expect(stream.ended).toBe(false);
      expect(stream.comments.filter((c) => c === 'keep-alive').length).toBeGreaterThanOrEqual(5);
      const second = await registerAndLogin(lb);
      since = performance.now();
      expect((await post(lb, '/auth/logout', { refresh_token: second.pair.refresh_token })).status).toBe(204);
      await stream.until(() => stream.revocations().length === 2, 'a revocation after the idle period, on the same stream');
      console.log(`same stream after ${IDLE_MS} ms idle (nginx proxy_read_timeout 30 s, heartbeat 5 s): revocation in ${(performance.now() - since).toFixed(0)} ms`);
    } finally {
      stream.close();
    }
  }, 90_000);
});
