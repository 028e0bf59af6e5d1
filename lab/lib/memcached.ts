// The lab's own memcached (Debian's, on a spare loopback port), so that "stop the store" stops
// this process. memcached keeps everything in memory and has no persistence: a restart starts
// empty, so its outage loses every session stored in it — the point of the comparison.
import net from 'node:net';
import os from 'node:os';
import { ChildService } from '../../scripts/lib/child-service.ts';
import { freePort } from '../../scripts/lib/ports.ts';

export const MEMCACHED_BIN = '/usr/bin/memcached';

export interface LabMemcached {
  /** host:port */
  address: string;
  proc: ChildService;
  /** memcached's `stats` "bytes": bytes used by the items stored. */
  usedBytes(): Promise<number>;
  close(): Promise<void>;
}

/** Sends one text-protocol command and resolves with the reply up to `END`/one line. */
export function memcachedCommand(port: number, command: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('memcached timeout')));
    socket.on('data', (d) => {
      data += d.toString();
      if (data.endsWith('END\r\n') || (!data.startsWith('STAT') && data.endsWith('\r\n'))) {
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', reject);
    socket.write(`${command}\r\n`);
  });
}

export async function startMemcached(): Promise<LabMemcached> {
  const port = await freePort();
  // memcached refuses to run as root unless told which user to run as.
  const asUser = process.getuid?.() === 0 ? ['-u', os.userInfo().username] : [];
  const proc = new ChildService({
    name: 'memcached',
    command: MEMCACHED_BIN,
    args: ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-m', '256', '-c', '1024', ...asUser],
    cwd: os.tmpdir(),
    env: { PATH: process.env.PATH ?? '' },
    ready: async () => (await memcachedCommand(port, 'version')).startsWith('VERSION'),
    readyTimeoutMs: 10_000,
  });
  await proc.start();
  return {
    address: `127.0.0.1:${port}`,
    proc,
    async usedBytes() {
      const stats = await memcachedCommand(port, 'stats');
      const m = /STAT bytes (\d+)/.exec(stats);
      if (!m) throw new Error(`no bytes in memcached stats: ${stats}`);
      return Number(m[1]);
    },
    async close() {
      await proc.stop(undefined, 5_000);
    },
  };
}
