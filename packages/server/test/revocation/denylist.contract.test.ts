// The Denylist contract on the memory denylist (the embedded default); on Redis: denylist.contract.int.test.ts.
import { ManualClock } from '../../src/clock.ts';
import { MemoryDenylist } from '../../src/revocation/memory-denylist.ts';
import { denylistContract } from './denylist.contract.ts';

denylistContract('memory', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const denylist = new MemoryDenylist(clock);
  await denylist.start();
  return {
    denylist,
    now: () => clock.now(),
    shortTtlMs: 60_000,
    async passUntil(ms) {
      clock.set(Math.max(clock.now(), ms + 1));
    },
    close: () => denylist.close(),
  };
});
