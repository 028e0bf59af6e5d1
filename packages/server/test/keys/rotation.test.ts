import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { readKeyFiles } from '../../src/keys/key-files.ts';
import { KeyStore } from '../../src/keys/key-store.ts';
import { keyStates, pruneExpiredKeys, rotateKeys, RotationPendingError } from '../../src/keys/rotation.ts';
import { captureLogger, tempDir } from '../helpers/app.ts';

const GRACE = 960; // access-token TTL 900 s + 60 s skew
const LEAD = 330; // JWKS max-age 300 s + 30 s

async function replica(dir: string, clock: ManualClock) {
  const { logger, lines } = captureLogger();
  const keys = await KeyStore.open({ dir, modulusLength: 2048, clock, logger, retiredKeyGraceSeconds: GRACE });
  return { keys, lines };
}

const kids = (keys: KeyStore) => keys.jwks().body.keys.map((k) => k.kid).sort();

describe('key rotation', () => {
  it('publishes the new key first, switches signing at activation, unpublishes the old key after its tokens expired', async () => {
    const dir = tempDir();
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const a = await replica(dir, clock);
    const b = await replica(dir, clock);
    const oldKid = a.keys.signingKey().kid;

    const { added, retires } = await rotateKeys(dir, { modulusLength: 2048, now: clock.now(), publishLeadSeconds: LEAD, retiredGraceSeconds: GRACE });
    expect(retires).toBe(oldKid);
    await Promise.all([a.keys.reload(), b.keys.reload()]);

    // Published at once on every replica, but not signing yet.
    for (const r of [a, b]) {
      expect(kids(r.keys)).toEqual([oldKid, added.meta.kid].sort());
      expect(r.keys.signingKey().kid).toBe(oldKid);
    }
    const etagBefore = a.keys.jwks().etag;

    // Both replicas switch at the same instant, without talking to each other.
    clock.advance(LEAD * 1000 - 1);
    expect(a.keys.signingKey().kid).toBe(oldKid);
    clock.advance(1);
    expect(a.keys.signingKey().kid).toBe(added.meta.kid);
    expect(b.keys.signingKey().kid).toBe(added.meta.kid);
    expect(a.lines.some((l) => l.includes('"event":"key.activated"'))).toBe(true);
    expect(a.keys.publicKey(oldKid)).toBeDefined();
    expect(a.keys.jwks().etag).toBe(etagBefore);

    // The old key stays published for the longest life of a token it signed.
    clock.advance(GRACE * 1000 - 1);
    expect(kids(a.keys)).toContain(oldKid);
    clock.advance(1);
    expect(kids(a.keys)).toEqual([added.meta.kid]);
    expect(a.keys.publicKey(oldKid)).toBeUndefined();
    expect(a.keys.jwks().etag).not.toBe(etagBefore);

    expect(await pruneExpiredKeys(dir, clock.now(), GRACE)).toEqual([oldKid]);
    expect((await readKeyFiles(dir)).map((k) => k.meta.kid)).toEqual([added.meta.kid]);
    expect(fs.readdirSync(dir).some((f) => f.startsWith(oldKid))).toBe(false);
  });

  it('refuses a second rotation while one is pending', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    await replica(dir, clock);
    const options = { modulusLength: 2048, now: clock.now(), publishLeadSeconds: LEAD, retiredGraceSeconds: GRACE };
    await rotateKeys(dir, options);
    await expect(rotateKeys(dir, options)).rejects.toBeInstanceOf(RotationPendingError);
    const states = keyStates((await readKeyFiles(dir)).map((k) => k.meta), clock.now(), GRACE).map((s) => s.state);
    expect(states.sort()).toEqual(['active', 'pending']);
  });

  it('a replica that was not told re-reads the folder when it meets an unknown kid', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const a = await replica(dir, clock);
    const { added } = await rotateKeys(dir, { modulusLength: 2048, now: clock.now(), publishLeadSeconds: 0, retiredGraceSeconds: GRACE });
    clock.advance(10_000);
    expect(a.keys.publicKey(added.meta.kid)).toBeUndefined();
    expect(await a.keys.publicKeyOrReload(added.meta.kid)).toBeDefined();
    // Junk kids cannot make it re-read the folder more than once per cooldown.
    expect(await a.keys.publicKeyOrReload('junk')).toBeUndefined();
  });
});
