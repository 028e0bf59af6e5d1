// One behaviour, every implementation: the memory denylist (embedded default) and the Redis
// one (production) must answer the same questions the same way.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Denylist } from '../../src/revocation/denylist.ts';

export interface Harness {
  denylist: Denylist;
  now(): number;
  /** Lifetime of entries a test expects to see expire. */
  shortTtlMs: number;
  /** Lets time pass until the clock reads later than `ms`. */
  passUntil(ms: number): Promise<void>;
  close(): Promise<void>;
}

export function denylistContract(name: string, factory: () => Promise<Harness>): void {
  describe(`Denylist contract: ${name}`, () => {
    let h: Harness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.close();
    });

    const hour = 3_600_000;

    it('revokes a session by sid, and nothing else', async () => {
      await h.denylist.revoke({ kind: 'session', id: 'sess-1', until: h.now() + hour });
      expect(h.denylist.isRevoked({ sid: 'sess-1' })).toBe(true);
      expect(h.denylist.isRevoked({ sid: 'sess-1', jti: 'tok-9', sub: 'user-9', iat: 1 })).toBe(true);
      expect(h.denylist.isRevoked({ sid: 'sess-2' })).toBe(false);
      expect(h.denylist.isRevoked({ jti: 'sess-1' })).toBe(false);
      expect(h.denylist.isRevoked({})).toBe(false);
    });

    it('revokes a token by jti, and nothing else', async () => {
      await h.denylist.revoke({ kind: 'token', id: 'tok-1', until: h.now() + hour });
      expect(h.denylist.isRevoked({ jti: 'tok-1' })).toBe(true);
      expect(h.denylist.isRevoked({ jti: 'tok-2', sid: 'sess-1' })).toBe(false);
      expect(h.denylist.isRevoked({ sid: 'tok-1' })).toBe(false);
    });

    it('a user cut-off kills tokens issued strictly before it (iat < before), for that user only', async () => {
      const before = Math.floor(h.now() / 1000);
      await h.denylist.revoke({ kind: 'user', id: 'user-1', before, until: h.now() + hour });
      expect(h.denylist.isRevoked({ sub: 'user-1', iat: before - 1 })).toBe(true);
      expect(h.denylist.isRevoked({ sub: 'user-1', iat: before })).toBe(false);
      expect(h.denylist.isRevoked({ sub: 'user-1', iat: before + 1 })).toBe(false);
      expect(h.denylist.isRevoked({ sub: 'user-2', iat: before - 1 })).toBe(false);
      expect(h.denylist.isRevoked({ sub: 'user-1' })).toBe(false);
    });

    it('cut-offs only move forward', async () => {
      const t = Math.floor(h.now() / 1000);
      await h.denylist.revoke({ kind: 'user', id: 'user-1', before: t, until: h.now() + hour });
      await h.denylist.revoke({ kind: 'user', id: 'user-1', before: t - 100, until: h.now() + hour });
      expect(h.denylist.isRevoked({ sub: 'user-1', iat: t - 50 })).toBe(true);
      await h.denylist.revoke({ kind: 'user', id: 'user-1', before: t + 100, until: h.now() + hour });
      expect(h.denylist.isRevoked({ sub: 'user-1', iat: t + 50 })).toBe(true);
      expect(h.denylist.size()).toBe(1);
    });

    it('entries stop counting after `until`, and size shrinks', async () => {
      const shortUntil = h.now() + h.shortTtlMs;
      const t = Math.floor(h.now() / 1000);
      await h.denylist.revoke({ kind: 'session', id: 'sess-short', until: shortUntil });
      await h.denylist.revoke({ kind: 'token', id: 'tok-short', until: shortUntil });
      await h.denylist.revoke({ kind: 'user', id: 'user-short', before: t, until: shortUntil });
      await h.denylist.revoke({ kind: 'session', id: 'sess-long', until: h.now() + hour });
      expect(h.denylist.size()).toBe(4);
      expect(h.denylist.isRevoked({ sid: 'sess-short' })).toBe(true);

      await h.passUntil(shortUntil);

      expect(h.denylist.isRevoked({ sid: 'sess-short' })).toBe(false);
      expect(h.denylist.isRevoked({ jti: 'tok-short' })).toBe(false);
      expect(h.denylist.isRevoked({ sub: 'user-short', iat: t - 1 })).toBe(false);
      expect(h.denylist.isRevoked({ sid: 'sess-long' })).toBe(true);
      expect(h.denylist.size()).toBe(1);
    });

    it('revoking with an `until` already past changes nothing', async () => {
      await h.denylist.revoke({ kind: 'session', id: 'sess-old', until: h.now() - 1 });
      expect(h.denylist.isRevoked({ sid: 'sess-old' })).toBe(false);
      expect(h.denylist.size()).toBe(0);
    });

    it('is ok once started', () => {
      expect(h.denylist.status()).toBe('ok');
    });
  });
}

