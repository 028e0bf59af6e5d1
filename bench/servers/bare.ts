// The limit for a protected route: the same Fastify and the same JSON as the example
// resource service's /api/profile, with no authentication at all.
import Fastify from 'fastify';

const env = process.env;
const app = Fastify({ logger: { level: env.LOG_LEVEL ?? 'warn' } });
const profile = { sub: env.BENCH_SUB ?? 'user', sid: env.BENCH_SID ?? 'session', client_id: 'tessera' };

app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/api/profile', async () => ({
  ...profile,
  greeting: `Hello, ${profile.sub}! This came from a service that never called Tessera.`,
}));

await app.listen({ port: Number(env.PORT ?? 4100), host: env.HOST ?? '127.0.0.1' });
process.once('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
