// The classic Node session application (lab/apps/session-app.ts) three times behind nginx:
// memory sessions with round robin (the problem), memory sessions with sticky routing, or the
// sessions in a central store with round robin: Redis (connect-redis) or PostgreSQL
// (connect-pg-simple, through a proxy the outage cuts).
import path from 'node:path';
import { ChildService } from '../../scripts/lib/child-service.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { nodeArgsFor, REPO_ROOT } from '../../scripts/lib/node-script.ts';
import { HEAP_PROBE_ARGS, HEAP_PROBE_DIR, nodeLiveBytes } from '../lib/memory.ts';
import { startNginx } from '../lib/nginx.ts';
import { startPostgresSessions, type LabPostgresSessions } from '../lib/postgres.ts';
import { startRedis, type LabRedis } from '../lib/redis.ts';
import { runningPids, type Deployment } from './types.ts';

export const SESSION_APP = path.join(REPO_ROOT, 'lab/apps/session-app.ts');

export interface NodeSessionsOptions {
  store: 'memory' | 'redis' | 'postgres';
  sticky: boolean;
}

export async function startNodeSessions(options: NodeSessionsOptions): Promise<Deployment> {
  const redis: LabRedis | undefined = options.store === 'redis' ? await startRedis() : undefined;
  const postgres: LabPostgresSessions | undefined = options.store === 'postgres' ? await startPostgresSessions() : undefined;
  const closeStore = async () => {
    await redis?.close();
    await postgres?.close();
  };
  const ports = [await freePort(), await freePort(), await freePort()];
  const procs = ports.map(
    (port, i) =>
      new ChildService({
        name: `app-${i + 1}`,
        command: process.execPath,
        args: [...HEAP_PROBE_ARGS, ...nodeArgsFor(SESSION_APP)],
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          PORT: String(port),
          HOST: '127.0.0.1',
          LAB_REPLICA: `app-${i + 1}`,
          LAB_STORE: options.store,
          LAB_HEAP_PROBE_DIR: HEAP_PROBE_DIR,
          ...(redis ? { LAB_REDIS_URL: redis.url } : {}),
          ...(postgres ? { LAB_DATABASE_URL: postgres.url } : {}),
        },
        ready: `http://127.0.0.1:${port}/healthz`,
      }),
  );
  try {
    await Promise.all(procs.map((p) => p.start()));
    const upstreams = ports.map((p) => `127.0.0.1:${p}`);
    const nginx = await startNginx({ upstreams, sticky: options.sticky });
    return {
      url: nginx.url,
      replicaUrls: upstreams.map((u) => `http://${u}`),
      loginUrls: upstreams.map((u) => `http://${u}`),
      replicas: procs,
      protocol: 'cookie',
      serverPids: async () => [
        ...runningPids([...procs, ...(redis ? [redis.proc] : [])]),
        ...(postgres ? await postgres.schema.backendPids() : []),
      ],
      async liveBytes() {
        let replicas = 0;
        for (const p of procs) if (p.pid) replicas += await nodeLiveBytes(p.pid);
        // PostgreSQL: the sessions table (on disk), as Tessera's row counts its tables.
        const store = redis ? await redis.usedMemory() : postgres ? await postgres.schema.tableBytes() : 0;
        return { replicas, store };
      },
      store: redis?.proc ?? postgres?.proxy,
      async close() {
        await nginx.stop();
        await Promise.all(procs.map((p) => p.stop(undefined, 5_000)));
        await closeStore();
      },
    };
  } catch (err) {
    await Promise.all(procs.map((p) => p.kill()));
    await closeStore();
    throw err;
  }
}
