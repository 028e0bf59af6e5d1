// The architectures the lab compares, in the order it runs and reports them.
import { startFlask } from './flask.ts';
import { startNodeSessions } from './node-sessions.ts';
import { startTessera } from './tessera.ts';
import { startTomcatCluster } from './tomcat.ts';
import type { ArchitectureId, Deployment } from './types.ts';

export interface Architecture {
  id: ArchitectureId;
  label: string;
  /** One line: what runs, as deployed in the lab. */
  what: string;
  start(): Promise<Deployment>;
}

export const ARCHITECTURES: Architecture[] = [
  {
    id: 'memory',
    label: 'Memory sessions, round robin',
    what: '@fastify/session with its memory store ×3, nginx round robin',
    start: () => startNodeSessions({ store: 'memory', sticky: false }),
  },
  {
    id: 'sticky',
    label: 'Sticky sessions',
    what: 'the same app ×3, nginx `hash $cookie_lab_client consistent`',
    start: () => startNodeSessions({ store: 'memory', sticky: true }),
  },
  {
    id: 'tomcat-delta',
    label: 'Clustering, all-to-all',
    what: 'Tomcat 10 ×3, SimpleTcpCluster + DeltaManager, static membership, nginx round robin',
    start: () => startTomcatCluster('delta'),
  },
  {
    id: 'tomcat-backup',
    label: 'Clustering, primary–backup',
    what: 'Tomcat 10 ×3, SimpleTcpCluster + BackupManager, static membership, nginx round robin',
    start: () => startTomcatCluster('backup'),
  },
  {
    id: 'flask-cookie',
    label: 'Flask signed cookie',
    what: 'Flask’s default session (the session is the cookie, signed with itsdangerous) ×3 on Flask’s threaded server, no store, nginx round robin',
    start: () => startFlask('cookie'),
  },
  {
    id: 'redis-store',
    label: 'Central store (Redis)',
    what: '@fastify/session + connect-redis ×3, one Redis, nginx round robin',
    start: () => startNodeSessions({ store: 'redis', sticky: false }),
  },
  {
    id: 'flask-redis',
    label: 'Flask-Session (Redis)',
    what: 'Flask-Session’s Redis interface (python3-redis) ×3 on Flask’s threaded server, one Redis, nginx round robin',
    start: () => startFlask('redis'),
  },
  {
    id: 'flask-memcached',
    label: 'Flask-Session (Memcached)',
    what: 'Flask-Session’s memcached interface with a pymemcache client ×3 on Flask’s threaded server, one memcached, nginx round robin',
    start: () => startFlask('memcached'),
  },
  {
    id: 'pg-store',
    label: 'Central store (PostgreSQL)',
    what: '@fastify/session + connect-pg-simple ×3, one PostgreSQL (the shared one, a schema of its own, reached through a TCP proxy), nginx round robin',
    start: () => startNodeSessions({ store: 'postgres', sticky: false }),
  },
  {
    id: 'tessera',
    label: 'Tessera',
    what: 'Tessera ×3 + the example resource service ×3 (@tessera/verifier, Redis denylist), nginx round robin',
    start: () => startTessera(),
  },
];
