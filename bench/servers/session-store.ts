// The stateful baseline Tessera replaces: a server-side session in a central Redis store
// (@fastify/session + connect-redis over ioredis). Every request unsigns the session
// cookie and reads the session from Redis: one network round trip per request.
import cookie from '@fastify/cookie';
import session from '@fastify/session';
import { RedisStore } from 'connect-redis';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const env = process.env;
const redis = new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', { connectionName: 'bench-session-store' });

// connect-redis 9 speaks node-redis' API; these four calls are all it uses on the hot
// path and at login, mapped onto ioredis.
const client = {
  get: (key: string) => redis.get(key),
  set: (key: string, value: string, options?: { expiration?: { type: 'EX'; value: number } }) =>
    options?.expiration ? redis.set(key, value, 'EX', options.expiration.value) : redis.set(key, value),
  expire: (key: string, seconds: number) => redis.expire(key, seconds),
  del: (keys: string[]) => redis.del(...keys),
};

interface Profile {
  sub: string;
  sid: string;
  client_id: string;
}

declare module 'fastify' {
  interface Session {
    profile?: Profile;
  }
}

const app = Fastify({ logger: { level: env.LOG_LEVEL ?? 'warn' } });
await app.register(cookie);
await app.register(session, {
  secret: env.SESSION_SECRET ?? 'a-benchmark-secret-that-is-at-least-32-chars',
  store: new RedisStore({ client, prefix: `${env.REDIS_KEY_PREFIX ?? 'bench:'}sess:`, ttl: 900 }),
  cookie: { secure: false, maxAge: 900_000 },
  // The cheapest correct setting for the baseline: read the session on every request,
  // write it only when it changed (rolling: true would add a SET per request).
  rolling: false,
  saveUninitialized: false,
});

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/login', async (request) => {
  const body = request.body as Partial<Profile>;
  request.session.profile = { sub: body.sub ?? 'user', sid: body.sid ?? 'session', client_id: 'tessera' };
  return { ok: true };
});

app.get('/api/profile', async (request, reply) => {
  const profile = request.session.profile;
  if (!profile) return reply.code(401).send({ code: 'invalid_token' });
  const { sub, sid, client_id } = profile;
  return { sub, sid, client_id, greeting: `Hello, ${sub}! This came from a service that never called Tessera.` };
});

await app.listen({ port: Number(env.PORT ?? 4200), host: env.HOST ?? '127.0.0.1' });
process.once('SIGTERM', () => {
  app.close().then(
    () => {
      redis.disconnect();
      process.exit(0);
    },
    () => process.exit(1),
  );
});
