// Just enough of connect-pg-simple for the lab's session app (the package ships no types;
// @types/connect-pg-simple would pull in express-session's).
declare module 'connect-pg-simple' {
  import type { EventEmitter } from 'node:events';
  import type { Pool } from 'pg';

  export interface PGStoreOptions {
    pool?: Pool;
    schemaName?: string;
    tableName?: string;
    createTableIfMissing?: boolean;
    /** Seconds between deletions of expired sessions; false: never. */
    pruneSessionInterval?: false | number;
    errorLog?: (...args: unknown[]) => void;
  }

  export interface PGStore extends EventEmitter {
    close(): Promise<void>;
  }

  /** `session`: a module whose `Store` is the base class (express-session, @fastify/session). */
  export default function connectPgSimple(session: { Store: unknown }): new (options?: PGStoreOptions) => PGStore;
}
