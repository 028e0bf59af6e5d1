// Entry point: config → resources → app → listen; drains on SIGTERM/SIGINT.
import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { checkPortFree, listening } from './http/port-check.ts';
import { stopAccepting } from './http/stop-accepting.ts';
import { createLogger } from './logger.ts';
import { startMetricsServer } from './metrics/http.ts';
import { AppMetrics } from './metrics/metrics.ts';
import { openRuntime } from './runtime.ts';

// SIGTERM drain, all within SHUTDOWN_TIMEOUT_MS (docs/operate/deployment.md):
// SHUTDOWN_DELAY_MS: keep accepting new connections (readiness already 503), for balancers
//   that poll /readyz. Behind a plain balancer that retries refused connections (nginx) leave it at 0.
// SHUTDOWN_LINGER_MS: once no longer accepting, longest wait for open keep-alive connections
//   to end on their own (the balancer closes its idle ones) before the rest are closed.
// SIGINT (Ctrl-C) skips both: in-flight requests still finish.

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
  // Before the slow part (migrations, keys): a port already taken is said at once.
  await checkPortFree('PORT', config.port, config.host);
  if (config.metricsPort !== undefined) await checkPortFree('METRICS_PORT', config.metricsPort, config.host);
  const runtime = await openRuntime(config, logger);
  const app = await buildApp(config, { ...runtime, logger, metrics: new AppMetrics({ processMetrics: true }) });
  await listening('PORT', config.port, config.host, () => app.fastify.listen({ port: config.port, host: config.host }));
  // Every replica drains the mail outbox; fastify.close() stops it.
  app.mail.start();
  const { metricsPort } = config;
  const metricsServer =
    metricsPort === undefined
      ? undefined
      : await listening('METRICS_PORT', metricsPort, config.host, () => startMetricsServer(app.metrics, { port: metricsPort, host: config.host }));
  logger.info({ event: 'server.started', issuer: config.issuer, db: runtime.db.kind, metrics_port: config.metricsPort ?? config.port }, 'tessera is listening');
  if (config.issuerDerived) {
    // Tokens carry it as `iss` and discovery sends verifiers to it: say where it came from.
    logger.warn(
      { event: 'config.issuer_derived', issuer: config.issuer },
      `ISSUER is not set; using ${config.issuer} (from HOST and PORT). Set ISSUER to the public URL clients and services use.`,
    );
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'server.stopping', signal }, 'draining');
    app.startDraining();
    const timer = setTimeout(() => {
      logger.error({ event: 'server.shutdown_timeout' }, 'shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdown.timeoutMs);
    timer.unref();
    // Stop accepting, let open connections end (see stopAccepting), then close() waits for
    // in-flight requests and we release the pools.
    // Metrics stay scrapeable while the API drains, so the drain itself can be watched.
    const patient = signal === 'SIGTERM';
    new Promise((resolve) => setTimeout(resolve, patient ? config.shutdown.delayMs : 0))
      .then(() => stopAccepting(app.fastify.server, patient ? config.shutdown.lingerMs : 0))
      .then(() => app.fastify.close())
      .then(() => metricsServer?.close())
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
  // Startup failures other than config: one line. Infrastructure ones (StartupError) name the
  // variable at fault and where it points: `DATABASE_URL (postgres://app@db/auth): connect …`.
  process.stderr.write(`tessera: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
