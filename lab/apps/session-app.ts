// The lab's classic session application: Fastify with @fastify/session, the sessions kept in
// the process's memory (LAB_STORE=memory) or in Redis through connect-redis (LAB_STORE=redis).
// Routes: POST /login, GET /profile, POST /logout, POST /password, GET /healthz. The lab has no
// user database (it measures sessions, not password checks): any user name logs in.
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import { RedisStore } from 'connect-redis';
import Fastify from 'fastify';
import { createClient } from 'redis';

const env = process.env;
const replica = env.LAB_REPLICA ?? `pid-${process.pid}`;
const storeKind = env.LAB_STORE ?? 'memory';

declare module 'fastify' {
  interface Session {
    user?: string;
    loginAt?: number;
    passwordChangedAt?: number;
  }
}

async function sessionStore(): Promise<{ store?: fastifySession.SessionStore; close(): Promise<void> }> {
  if (storeKind === 'memory') return { close: async () => {} };
  if (storeKind !== 'redis') throw new Error(`LAB_STORE must be memory or redis, not ${storeKind}`);
  const client = createClient({
    url: env.LAB_REDIS_URL ?? 'redis://127.0.0.1:6379',
    // While Redis is down a request fails at once instead of waiting in a queue.
    disableOfflineQueue: true,
    socket: { reconnectStrategy: () => 200, connectTimeout: 1_000 },
  });
  client.on('error', () => {
    // Reconnects by itself; each failed command answers 503 below.
  });
  await client.connect();
  const store = new RedisStore({ client, prefix: env.LAB_REDIS_PREFIX ?? 'lab-sess:' });
  return { store: store as unknown as fastifySession.SessionStore, close: async () => void (await client.quit().catch(() => {})) };
}

const { store, close } = await sessionStore();
const app = Fastify({ logger: { level: env.LOG_LEVEL ?? 'warn' } });
await app.register(fastifyCookie);
await app.register(fastifySession, {
  secret: env.LAB_SESSION_SECRET ?? 'lab-session-secret-at-least-32-characters',
  cookieName: 'sid',
  cookie: { secure: false, httpOnly: true, sameSite: 'lax', path: '/' },
  saveUninitialized: false,
  ...(store ? { store } : {}),
});

app.addHook('onSend', async (_request, reply) => {
  reply.header('x-replica', replica);
});

app.setErrorHandler((err, _request, reply) => {
  // A session store that cannot be reached: the request fails, the session is not known.
  reply.code(503).send({ error: 'session store unavailable', detail: (err as Error).message });
});

app.get('/healthz', async () => ({ status: 'ok', replica }));

app.post<{ Body: { user?: string } }>('/login', async (request, reply) => {
  const user = request.body?.user;
  if (typeof user !== 'string' || user.length === 0 || user.length > 200) return reply.code(400).send({ error: 'user required' });
  // A new session id at login (session fixation); the old session, if any, is dropped.
  await request.session.regenerate();
  request.session.user = user;
  request.session.loginAt = Date.now();
  return { user, replica };
});

app.get('/profile', async (request, reply) => {
  const user = request.session.user;
  if (!user) return reply.code(401).send({ error: 'not logged in' });
  return { user, replica };
});

app.post('/logout', async (request, reply) => {
  await request.session.destroy();
  return reply.code(204).send();
});

app.post('/password', async (request, reply) => {
  const user = request.session.user;
  if (!user) return reply.code(401).send({ error: 'not logged in' });
  // A password change rotates the session id, keeping the user logged in on the new one.
  await request.session.regenerate(['user', 'loginAt']);
  request.session.passwordChangedAt = Date.now();
  return { user, replica };
});

await app.listen({ port: Number(env.PORT ?? 4100), host: env.HOST ?? '127.0.0.1' });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.close().then(
      () => close().then(() => process.exit(0)),
      () => process.exit(1),
    );
  });
}
