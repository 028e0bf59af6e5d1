// The lab's own Redis (a redis-server on a spare loopback port), so that "stop the store"
// stops this process, not the machine's shared Redis. It snapshots to its folder on a
// graceful stop, so the outage measures unavailability, not data loss.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ChildService } from '../../scripts/lib/child-service.ts';
import { freePort } from '../../scripts/lib/ports.ts';

export interface LabRedis {
  url: string;
  port: number;
  proc: ChildService;
  /** Redis's used_memory, bytes. */
  usedMemory(): Promise<number>;
  close(): Promise<void>;
}

/** Sends one inline command and resolves with the raw reply. */
export function redisCommand(port: number, command: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('redis timeout')));
    socket.on('data', (d) => {
      data += d.toString();
      // A bulk reply ($<len>\r\n<payload>\r\n) or a one-line reply.
      const bulk = /^\$(\d+)\r\n/.exec(data);
      if ((bulk && data.length >= bulk[0].length + Number(bulk[1]) + 2) || (!bulk && data.endsWith('\r\n') && !data.startsWith('$'))) {
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', reject);
    socket.write(`${command}\r\n`);
  });
}

export async function startRedis(): Promise<LabRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-lab-redis-'));
  const port = await freePort();
  const proc = new ChildService({
    name: 'redis',
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '3600 1', '--appendonly', 'no', '--daemonize', 'no', '--logfile', ''],
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    ready: async () => (await redisCommand(port, 'PING')).startsWith('+PONG'),
    readyTimeoutMs: 10_000,
  });
  await proc.start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    proc,
    async usedMemory() {
      const info = await redisCommand(port, 'INFO memory');
      const m = /used_memory:(\d+)/.exec(info);
      if (!m) throw new Error(`no used_memory in ${info}`);
      return Number(m[1]);
    },
    async close() {
      await proc.stop(undefined, 5_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
