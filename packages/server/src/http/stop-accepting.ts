// The first step of a graceful shutdown behind a plain load balancer.
import type { Server } from 'node:http';
import net from 'node:net';

/**
 * Closes the listening socket and waits, at most `maxWaitMs`, until every open connection
 * has closed, without cutting any of them.
 *
 * Why not `server.close()` right away: since Node 19 it also destroys idle keep-alive
 * connections at once, and a balancer (nginx) may be writing a request into one of them at
 * that very moment; the request is lost, and nginx does not replay a POST it already sent.
 * A refused *new* connection is harmless: the request never left the balancer, which tries
 * the next replica. So: stop accepting, let each open connection end on its own — the app
 * answers `Connection: close` while draining, and the balancer closes its idle ones after its
 * keep-alive timeout — then `fastify.close()` handles whatever is left.
 */
export async function stopAccepting(server: Server, maxWaitMs: number): Promise<void> {
  if (!server.listening) return;
  // net.Server's close: stops listening, leaves the open connections alone.
  net.Server.prototype.close.call(server);
  const deadline = Date.now() + maxWaitMs;
  while (Date.now() < deadline) {
    const open = await new Promise<number>((resolve) => server.getConnections((err, count) => resolve(err ? 0 : count)));
    if (open === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
