// The forward-only merge rule, as properties: whatever order, duplication or replay the
// writes arrive in, a revocation never shrinks, and every copy of the rule (the mirror, the
// feed's snapshot merge, the Redis and feed encodings) agrees with mergeEntries.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DenylistMirror } from '@tessera/verifier';
import {
  coversEntry,
  encodeDenylistEntry,
  entryKey,
  mergeBySubject,
  mergeEntries,
  parseDenylistEntry,
  parseFeedEntry,
  toFeedEntry,
  type DenylistEntry,
} from '@tessera/verifier/internal';

const NOW = 1_800_000_000_000;
const untilArb = fc.integer({ min: NOW, max: NOW + 86_400_000 });
const beforeArb = fc.integer({ min: 1_700_000_000, max: 1_900_000_000 });
/** Entries for one subject of each kind: the merge is defined per key. */
const sameSubject = (kind: DenylistEntry['kind']): fc.Arbitrary<DenylistEntry> =>
  kind === 'user'
    ? fc.record({ kind: fc.constant('user' as const), id: fc.constant('u1'), before: beforeArb, until: untilArb })
    : fc.record({ kind: fc.constant(kind), id: fc.constant('x1'), until: untilArb });
const anyKind = fc.constantFrom<DenylistEntry['kind']>('session', 'token', 'user');
const writes = anyKind.chain((kind) => fc.array(sameSubject(kind), { minLength: 1, maxLength: 8 }));

const fold = (entries: DenylistEntry[]) => entries.reduce((a, b) => mergeEntries(a, b));

describe('mergeEntries (forward-only)', () => {
  it('is commutative, associative and idempotent: order, duplicates and replays change nothing', () => {
    fc.assert(
      fc.property(writes, fc.nat(), (entries, seed) => {
        const shuffled = [...entries].sort((a, b) => ((a.until * 31 + seed) % 7) - ((b.until * 31 + seed) % 7));
        expect(fold(shuffled)).toEqual(fold(entries));
        expect(fold([...entries, ...entries])).toEqual(fold(entries));
      }),
    );
  });

  it('never shrinks: the merge covers every write, and until/before are the maxima', () => {
    fc.assert(
      fc.property(writes, (entries) => {
        const merged = fold(entries);
        for (const entry of entries) expect(coversEntry(merged, entry)).toBe(true);
        expect(merged.until).toBe(Math.max(...entries.map((e) => e.until)));
        if (merged.kind === 'user') expect(merged.before).toBe(Math.max(...entries.map((e) => (e.kind === 'user' ? e.before : 0))));
      }),
    );
  });

  it('the mirror and the feed snapshot merge agree with it', () => {
    fc.assert(
      fc.property(writes, (entries) => {
        const mirror = new DenylistMirror();
        for (const entry of entries) mirror.apply(entry);
        expect(mirror.entries()).toEqual([fold(entries)]);
        expect(mergeBySubject(entries)).toEqual([fold(entries)]);
      }),
    );
  });
});

describe('wire formats', () => {
  const entryArb = anyKind.chain(sameSubject);
  it('Redis: decode(encode(e)) is e (until rounded up to the millisecond)', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        expect(parseDenylistEntry(encodeDenylistEntry(entry))).toEqual(entry);
      }),
    );
  });

  it('feed: parse(toFeedEntry(e)) keeps the subject and covers e (until rounded up to the second)', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        const back = parseFeedEntry(JSON.parse(JSON.stringify(toFeedEntry(entry))));
        expect(back && entryKey(back)).toBe(entryKey(entry));
        expect(back && coversEntry(back, entry)).toBe(true);
        expect(back!.until - entry.until).toBeLessThan(1000);
      }),
    );
  });

  it('rejects what is not an entry, never throws', () => {
    for (const text of [null, '', '{', '[]', '{"kind":"user","id":"u","until":1}', '{"kind":"group","id":"g","until":1}', 'x'.repeat(5000)]) {
      expect(parseDenylistEntry(text)).toBeUndefined();
    }
    expect(parseFeedEntry({ kind: 'session', sid: '', expires_at: 1 })).toBeUndefined();
  });
});
