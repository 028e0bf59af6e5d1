// What the workload needs from an architecture: a balancer URL, the replicas (to kill and
// restart, and to ask directly), the shared store if there is one, and its memory.

export type ArchitectureId =
  | 'memory'
  | 'sticky'
  | 'tomcat-delta'
  | 'tomcat-backup'
  | 'flask-cookie'
  | 'redis-store'
  | 'flask-redis'
  | 'flask-memcached'
  | 'pg-store'
  | 'tessera';

export interface Deployment {
  /** The balancer (nginx). */
  url: string;
  /** Each application replica's own URL, in the order of `replicas`. */
  replicaUrls: string[];
  /** Where a login on replica i goes (the replica itself; Tessera: the Tessera replica of pair i). */
  loginUrls: string[];
  /**
   * The application replicas. Tessera's "replica i" is a pair: the resource service that
   * answers the authenticated requests and the Tessera server beside it; both are killed.
   */
  replicas: ReplicaHandle[];
  /** How a virtual user logs in and proves it: a session cookie, or Tessera's tokens. */
  protocol: 'cookie' | 'tessera';
  /** Pids of every server process whose CPU counts (replicas, store; PostgreSQL: the backends serving the lab's schema). */
  serverPids(): Promise<number[]>;
  /**
   * Live bytes (after a full GC where there is one) held by the replicas and by the store.
   * `bounded`: bytes held in caches that stop growing at `cap` sessions per replica (Tessera's
   * verifier token caches), kept apart so they are not scaled past their bound.
   */
  liveBytes(): Promise<LiveBytes>;
  /** The shared store, when the architecture has one to stop: its process, or the proxy in front of it. */
  store: StoreHandle | undefined;
  close(): Promise<void>;
}

/** Something the lab can crash, stop gracefully and start again. */
export interface ReplicaHandle {
  readonly name: string;
  kill(): Promise<unknown>;
  /** The graceful stop signal; SIGKILL if the process does not exit in time. */
  stop(): Promise<unknown>;
  start(): Promise<void>;
}

/** The shared store as the outage sees it: a process stopped and started (Redis), or a connection cut and restored (PostgreSQL's proxy). */
export interface StoreHandle {
  readonly name: string;
  stop(): Promise<unknown>;
  start(): Promise<void>;
}

export interface LiveBytes {
  replicas: number;
  store: number;
  bounded?: { bytes: number; capPerReplica: number; replicas: number };
}

/** The pids of those of `services` that run now (a killed replica has none). */
export function runningPids(services: { pid: number | undefined }[]): number[] {
  return services.map((s) => s.pid).filter((pid): pid is number => pid !== undefined);
}
