// The capacity model: measured per-operation costs (bench/capacity-results.json) times the
// operation rates a user population generates. Pure arithmetic, so docs/operate/capacity.md's
// table is reproducible and tested (test/bench/capacity-model.test.ts).

/** What one operation costs each component (from the bench's `ops`). */
export interface MeasuredOp {
  replicaMs: number;
  postgresMs: number;
  walBytes: number;
  rowsWritten: number;
  redisCommands: number;
}

export interface Measured {
  ops: Record<'login' | 'refresh' | 'logout' | 'me', MeasuredOp>;
  /** Redis used_memory per revoked session (denylist key + feed stream entry). */
  redisBytesPerRevokedSession: number;
  mirrorBytesPerEntry: number;
  feedCpuMsPerRevocationPerFollower: number;
  /** On-disk bytes (heap + indexes) per row, measured at the end of the run. */
  refreshTokenRowBytes: number;
  sessionRowBytes: number;
}

export interface Assumptions {
  /** Share of monthly users active on a given day. */
  dailyActiveShare: number;
  /** Live sessions (devices) per monthly user. */
  sessionsPerUser: number;
  /** ACCESS_TOKEN_TTL, seconds (default 900). */
  accessTokenTtl: number;
  /** The client refreshes this many seconds before expiry (@tessera/client: 60). */
  refreshMargin: number;
  /** Hours a daily active user has the app open (refreshing every interval meanwhile). */
  activeHoursPerDay: number;
  loginsPerDailyUser: number;
  logoutsPerDailyUser: number;
  /** GET /auth/me (a verified request served by a replica) per daily user. */
  meCallsPerDailyUser: number;
  /** Busiest hour's rate ÷ the day's average rate. */
  peakFactor: number;
  /** Share of a core a component may use at peak (headroom for spikes and failover). */
  utilisation: number;
  /** SESSION_RETENTION, days: rotated-token hashes and dead sessions are kept this long. */
  retentionDays: number;
  /** Processes following the revocation feed (resource-service instances). */
  feedFollowers: number;
}

export const DEFAULT_ASSUMPTIONS: Assumptions = {
  dailyActiveShare: 0.3,
  sessionsPerUser: 2,
  accessTokenTtl: 900,
  refreshMargin: 60,
  activeHoursPerDay: 2,
  loginsPerDailyUser: 0.2,
  logoutsPerDailyUser: 0.1,
  meCallsPerDailyUser: 5,
  peakFactor: 3,
  utilisation: 0.6,
  retentionDays: 30,
  feedFollowers: 60,
};

export interface CapacityRow {
  monthlyUsers: number;
  peakOpsPerSecond: Record<keyof Measured['ops'], number>;
  replicaCores: number;
  /** Replicas of 2 cores (at least 2 for availability). */
  replicas: number;
  postgresCores: number;
  postgresRowWritesPerSecond: number;
  walMiBPerSecond: number;
  /** refresh_tokens + sessions held at steady state (the purge keeps SESSION_RETENTION of them). */
  storageGiB: number;
  /** Growth per day until the purge's retention is reached (then flat). */
  storageGrowthGiBPerDay: number;
  walGiBPerDay: number;
  redisOpsPerSecond: number;
  redisMemoryMiB: number;
  mirrorMiBPerProcess: number;
  feedCores: number;
}

const SECONDS_PER_DAY = 86_400;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Refreshes per daily user per day: one every (TTL − margin) while active, plus one on each return. */
export function refreshesPerDailyUser(a: Assumptions): number {
  const interval = a.accessTokenTtl - Math.min(a.refreshMargin, a.accessTokenTtl / 2);
  return (a.activeHoursPerDay * 3600) / interval + 1;
}

export function capacityRow(monthlyUsers: number, m: Measured, a: Assumptions = DEFAULT_ASSUMPTIONS): CapacityRow {
  const daily = monthlyUsers * a.dailyActiveShare;
  const perDay = { login: a.loginsPerDailyUser, refresh: refreshesPerDailyUser(a), logout: a.logoutsPerDailyUser, me: a.meCallsPerDailyUser };
  const average = Object.fromEntries(Object.entries(perDay).map(([op, n]) => [op, (daily * n) / SECONDS_PER_DAY])) as Record<keyof Measured['ops'], number>;
  const peak = Object.fromEntries(Object.entries(average).map(([op, r]) => [op, r * a.peakFactor])) as Record<keyof Measured['ops'], number>;
  const sum = (rates: Record<string, number>, f: (o: MeasuredOp) => number) =>
    Object.entries(rates).reduce((s, [op, r]) => s + r * f(m.ops[op as keyof Measured['ops']]), 0);
  const replicaCores = sum(peak, (o) => o.replicaMs) / 1000 / a.utilisation;
  // Live revocations: every logout's entry lives until the access tokens it covers expire.
  const liveRevocations = peak.logout * a.accessTokenTtl;
  const refreshRowsKept = average.refresh * SECONDS_PER_DAY * a.retentionDays;
  const sessionsKept = monthlyUsers * a.sessionsPerUser + average.login * SECONDS_PER_DAY * a.retentionDays;
  return {
    monthlyUsers,
    peakOpsPerSecond: peak,
    replicaCores,
    replicas: Math.max(2, Math.ceil(replicaCores / 2)),
    postgresCores: sum(peak, (o) => o.postgresMs) / 1000 / a.utilisation,
    postgresRowWritesPerSecond: sum(peak, (o) => o.rowsWritten),
    walMiBPerSecond: sum(peak, (o) => o.walBytes) / MiB,
    storageGiB: (refreshRowsKept * m.refreshTokenRowBytes + sessionsKept * m.sessionRowBytes) / GiB,
    storageGrowthGiBPerDay: ((average.refresh * m.refreshTokenRowBytes + average.login * m.sessionRowBytes) * SECONDS_PER_DAY) / GiB,
    walGiBPerDay: (sum(average, (o) => o.walBytes) * SECONDS_PER_DAY) / GiB,
    redisOpsPerSecond: sum(peak, (o) => o.redisCommands),
    redisMemoryMiB: (liveRevocations * m.redisBytesPerRevokedSession) / MiB,
    mirrorMiBPerProcess: (liveRevocations * m.mirrorBytesPerEntry) / MiB,
    feedCores: (peak.logout * a.feedFollowers * m.feedCpuMsPerRevocationPerFollower) / 1000 / a.utilisation,
  };
}

export const POPULATIONS = [1_000_000, 10_000_000, 100_000_000] as const;
