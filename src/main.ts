// Entry point: config → resources → app → listen; drains on SIGTERM/SIGINT.
import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { openRuntime } from './runtime.ts';

const SHUTDOWN_TIMEOUT_MS = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000);

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tessera: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const runtime = await openRuntime(config, logger);
  const app = await buildApp(config, { ...runtime, logger });
  await app.fastify.listen({ port: config.port, host: config.host });
  logger.info({ event: 'server.started', issuer: config.issuer, db: runtime.db.kind }, 'tessera is listening');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'server.stopping', signal }, 'draining');
    app.startDraining();
    const timer = setTimeout(() => {
      logger.error({ event: 'server.shutdown_timeout' }, 'shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    // close() stops accepting, waits for in-flight requests, then we release the pools.
    app.fastify
      .close()
      .then(() => runtime.close())
      .then(() => {
        logger.info({ event: 'server.stopped' }, 'stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  // Startup failures other than config (database unreachable, unreadable key file): one line.
  process.stderr.write(`tessera: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
