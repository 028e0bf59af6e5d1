// The listening ports are checked before anything slow (migrations, key generation, Redis):
// a port already taken is the commonest mistake of a second `npm start`, and should be said
// at once, naming the variable, not after the database was migrated.
import net from 'node:net';
import { StartupError } from '../startup-error.ts';

/** Binds `port` on `host` and lets it go again; a refusal becomes a StartupError naming `variable`. */
export async function checkPortFree(variable: string, port: number, host: string): Promise<void> {
  if (port === 0) return; // any free port: nothing to check
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ port, host, exclusive: true }, resolve);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'EADDRINUSE'
        ? `stop the other process or set ${variable} to a free port`
        : code === 'EACCES'
          ? `use a port above 1023 or grant the permission to listen`
          : undefined;
    throw new StartupError(variable, hostPort(host, port), err, hint);
  } finally {
    await new Promise((resolve) => (probe.listening ? probe.close(resolve) : resolve(undefined)));
  }
}

/** Wraps a failed listen() the same way (the port may be taken between the check and the listen). */
export async function listening<T>(variable: string, port: number, host: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') throw err;
    throw new StartupError(variable, hostPort(host, port), err);
  }
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
