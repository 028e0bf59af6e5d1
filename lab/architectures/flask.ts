// The problem statement's Flask examples, three replicas of lab/apps/flask_app.py behind nginx
// round robin, run by Debian's /usr/bin/python3 (python3-flask, python3-flask-session) on
// Flask's built-in server (threaded): Flask's default signed-cookie session (no store), or
// Flask-Session on the lab's own Redis or on the lab's own memcached (pymemcache).
import path from 'node:path';
import { ChildService } from '../../scripts/lib/child-service.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { REPO_ROOT } from '../../scripts/lib/node-script.ts';
import { rssBytes } from '../lib/memory.ts';
import { startMemcached, type LabMemcached } from '../lib/memcached.ts';
import { startNginx } from '../lib/nginx.ts';
import { startRedis, type LabRedis } from '../lib/redis.ts';
import { runningPids, type Deployment } from './types.ts';

/** Debian's Python, which has the python3-flask* packages (a pyenv python3 on PATH may not; test/lib/requirements.ts checks). */
export const PYTHON = '/usr/bin/python3';
export const FLASK_APP = path.join(REPO_ROOT, 'lab/apps/flask_app.py');
export type FlaskStore = 'cookie' | 'redis' | 'memcached';

export async function startFlask(store: FlaskStore): Promise<Deployment> {
  const redis: LabRedis | undefined = store === 'redis' ? await startRedis() : undefined;
  const memcached: LabMemcached | undefined = store === 'memcached' ? await startMemcached() : undefined;
  const closeStore = async () => {
    await redis?.close();
    await memcached?.close();
  };
  const ports = [await freePort(), await freePort(), await freePort()];
  const procs = ports.map(
    (port, i) =>
      new ChildService({
        name: `flask-${i + 1}`,
        command: PYTHON,
        args: [FLASK_APP],
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          PYTHONDONTWRITEBYTECODE: '1',
          PORT: String(port),
          HOST: '127.0.0.1',
          LAB_REPLICA: `flask-${i + 1}`,
          LAB_STORE: store,
          ...(redis ? { LAB_REDIS_URL: redis.url } : {}),
          ...(memcached ? { LAB_MEMCACHED: memcached.address } : {}),
        },
        ready: `http://127.0.0.1:${port}/healthz`,
      }),
  );
  try {
    await Promise.all(procs.map((p) => p.start()));
    const upstreams = ports.map((p) => `127.0.0.1:${p}`);
    const nginx = await startNginx({ upstreams, sticky: false });
    return {
      url: nginx.url,
      replicaUrls: upstreams.map((u) => `http://${u}`),
      loginUrls: upstreams.map((u) => `http://${u}`),
      replicas: procs,
      protocol: 'cookie',
      serverPids: async () => runningPids([...procs, ...(redis ? [redis.proc] : []), ...(memcached ? [memcached.proc] : [])]),
      async liveBytes() {
        let replicas = 0;
        for (const p of procs) if (p.pid) replicas += rssBytes(p.pid);
        const stored = redis ? await redis.usedMemory() : memcached ? await memcached.usedBytes() : 0;
        return { replicas, store: stored };
      },
      store: redis?.proc ?? memcached?.proc,
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
