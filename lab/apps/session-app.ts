// The lab's classic session application: Fastify with @fastify/session, the sessions kept in
// the process's memory (LAB_STORE=memory), in Redis through connect-redis (LAB_STORE=redis) or
// in PostgreSQL through connect-pg-simple (LAB_STORE=postgres).
// Routes: POST /login, GET /profile, POST /logout, POST /password, GET /healthz. The lab has no
// user database (it measures sessions, not password checks): any user name logs in.
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import Fastify from 'fastify';
import pg from 'pg';
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

type LabStore = { store?: fastifySession.SessionStore; close(): Promise<void> };

async function sessionStore(): Promise<LabStore> {
  if (storeKind === 'memory') return { close: async () => {} };
  if (storeKind === 'postgres') return postgresStore();
  if (storeKind !== 'redis') throw new Error(`LAB_STORE must be memory, redis or postgres, not ${storeKind}`);
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

function postgresStore(): LabStore {
  const pool = new pg.Pool({
    // The lab's URL: the schema (search_path) and application_name are in it.
    connectionString: env.LAB_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    max: 4,
    // An unreachable database fails a request at once (503 below) instead of leaving it waiting
    // for a connection or an answer.
    connectionTimeoutMillis: 1_000,
    statement_timeout: 2_000,
    query_timeout: 3_000,
  });
  pool.on('error', () => {
    // An idle connection cut: the pool drops it and connects again when asked.
  });
  const PGStore = connectPgSimple(fastifySession);
  // The table is created by the lab before the replicas start; expired sessions are no concern here.
  const store = new PGStore({ pool, pruneSessionInterval: false });
  return {
    store: store as unknown as fastifySession.SessionStore,
    close: async () => {
      await store.close();
      await pool.end().catch(() => {});
    },
  };
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
