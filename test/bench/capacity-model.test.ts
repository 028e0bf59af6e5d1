// The capacity model's arithmetic (bench/capacity/model.ts) and the block replacement that
// keeps bench:capacity's sections in bench/RESULTS.md and docs/operate/capacity.md.
import { describe, expect, it } from 'vitest';
import { capacityRow, DEFAULT_ASSUMPTIONS, refreshesPerDailyUser, type Measured } from '../../bench/capacity/model.ts';
import { MARKERS, replaceBlock } from '../../bench/capacity/report.ts';

const op = (replicaMs: number, postgresMs: number, walBytes: number, rowsWritten: number, redisCommands: number) => ({ replicaMs, postgresMs, walBytes, rowsWritten, redisCommands });

const measured: Measured = {
  ops: { refresh: op(1, 1, 1000, 4, 1), login: op(30, 3, 1000, 2, 10), logout: op(2, 2, 1000, 3, 6), me: op(0.5, 0.2, 0, 0, 0) },
  redisBytesPerRevokedSession: 1000,
  mirrorBytesPerEntry: 100,
  feedCpuMsPerRevocationPerFollower: 0.05,
  refreshTokenRowBytes: 400,
  sessionRowBytes: 1000,
};

describe('capacity model', () => {
  it('refreshes every TTL minus the client margin while active, plus one on return', () => {
    expect(refreshesPerDailyUser(DEFAULT_ASSUMPTIONS)).toBeCloseTo((2 * 3600) / 840 + 1, 10);
    // The margin is at most half the lifetime, as @tessera/client does.
    expect(refreshesPerDailyUser({ ...DEFAULT_ASSUMPTIONS, accessTokenTtl: 60, refreshMargin: 60, activeHoursPerDay: 1 })).toBeCloseTo(3600 / 30 + 1, 10);
  });

  it('turns users into peak rates and each component’s load', () => {
    const a = { ...DEFAULT_ASSUMPTIONS, dailyActiveShare: 0.5, peakFactor: 2, utilisation: 0.5 };
    const row = capacityRow(864_000, measured, a); // 432,000 daily users: 5 per second per event a day
    const refreshes = refreshesPerDailyUser(a) * 5 * 2;
    expect(row.peakOpsPerSecond.refresh).toBeCloseTo(refreshes, 6);
    expect(row.peakOpsPerSecond.login).toBeCloseTo(0.2 * 5 * 2, 6);
    expect(row.peakOpsPerSecond.me).toBeCloseTo(5 * 5 * 2, 6);
    const busy = refreshes * 1 + 2 * 30 + 1 * 2 + 50 * 0.5; // ms of replica CPU per second
    expect(row.replicaCores).toBeCloseTo(busy / 1000 / 0.5, 6);
    expect(row.replicas).toBe(Math.max(2, Math.ceil(row.replicaCores / 2)));
    expect(row.postgresRowWritesPerSecond).toBeCloseTo(refreshes * 4 + 2 * 2 + 1 * 3, 6);
    expect(row.redisOpsPerSecond).toBeCloseTo(refreshes + 2 * 10 + 6, 6);
    // Live revocations: the peak logout rate times the access-token lifetime.
    expect(row.redisMemoryMiB).toBeCloseTo((1 * 900 * 1000) / 1024 / 1024, 6);
    expect(row.feedCores).toBeCloseTo((1 * 60 * 0.05) / 1000 / 0.5, 9);
  });

  it('keeps SESSION_RETENTION days of rotated tokens and grows linearly until then', () => {
    const row = capacityRow(1_000_000, measured);
    const refreshesPerDay = 1_000_000 * 0.3 * refreshesPerDailyUser(DEFAULT_ASSUMPTIONS);
    const loginsPerDay = 1_000_000 * 0.3 * 0.2;
    const gib = 1024 ** 3;
    expect(row.storageGrowthGiBPerDay).toBeCloseTo((refreshesPerDay * 400 + loginsPerDay * 1000) / gib, 6);
    expect(row.storageGiB).toBeCloseTo((refreshesPerDay * 30 * 400 + (2_000_000 + loginsPerDay * 30) * 1000) / gib, 6);
  });

  it('is linear in users', () => {
    const small = capacityRow(1_000_000, measured);
    const big = capacityRow(10_000_000, measured);
    expect(big.replicaCores).toBeCloseTo(small.replicaCores * 10, 6);
    expect(big.postgresCores).toBeCloseTo(small.postgresCores * 10, 6);
  });
});

describe('replaceBlock', () => {
  it('replaces what is between the markers and keeps the rest', () => {
    const text = `before\n${MARKERS.begin}\nold\n${MARKERS.end}\nafter\n`;
    expect(replaceBlock(text, 'new')).toBe(`before\n${MARKERS.begin}\nnew\n${MARKERS.end}\nafter\n`);
  });

  it('appends the block when the markers are missing', () => {
    expect(replaceBlock('text\n', 'new')).toBe(`text\n\n${MARKERS.begin}\nnew\n${MARKERS.end}\n`);
  });
});
