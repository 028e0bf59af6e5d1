// The AttemptStore contract on the memory store (the embedded default); on Redis: attempt-store.contract.int.test.ts.
import { describe, expect, it } from 'vitest';
import { MemoryAttemptStore } from '../../src/throttle/attempt-store.ts';
import { attemptStoreContract, policy, T0 } from './attempt-store.contract.ts';

attemptStoreContract('memory', async () => {
  const store = new MemoryAttemptStore();
  return { store, close: () => store.close() };
});

describe('MemoryAttemptStore bounds', () => {
  it('holds at most maxKeys keys, dropping the least recently attempted', async () => {
    const store = new MemoryAttemptStore(100);
    try {
      for (let i = 0; i < 250; i++) await store.attempt([{ key: `k${i}`, policy }], T0);
      expect(store.size).toBe(100);
      // k249 is among the kept ones: its count continues.
      await store.attempt([{ key: 'k249', policy }], T0);
      await store.attempt([{ key: 'k249', policy }], T0);
      expect((await store.attempt([{ key: 'k249', policy }], T0)).allowed).toBe(false);
    } finally {
      await store.close();
    }
  });
});
