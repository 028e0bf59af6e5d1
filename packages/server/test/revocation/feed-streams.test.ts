// FeedStreams on its own: the per-client slots behind REVOCATION_FEED_MAX_STREAMS_PER_CLIENT.
import { describe, expect, it } from 'vitest';
import { AuthError } from '../../src/errors.ts';
import { FeedStreams } from '../../src/revocation/feed-streams.ts';

describe('FeedStreams', () => {
  it('gives each client its own slots, refuses one more with too_many_streams, and takes a slot back once', () => {
    const refused: string[] = [];
    const streams = new FeedStreams(2, (id) => refused.push(id));
    const a1 = streams.claim('a');
    streams.claim('a');
    streams.claim('b');
    expect(() => streams.claim('a')).toThrowError(expect.objectContaining({ code: 'too_many_streams', status: 429 }) as AuthError);
    expect(refused).toEqual(['a']);
    expect(streams.size).toBe(3);
    a1.release();
    a1.release(); // twice: still one slot back, not two
    expect(streams.size).toBe(2);
    streams.claim('a');
    expect(() => streams.claim('a')).toThrow(AuthError);
  });

  it('a slot given back before its stream opened (the log was unreachable) is not ended by endAll', () => {
    const streams = new FeedStreams(16);
    const ended: string[] = [];
    const failed = streams.claim('a');
    failed.release();
    failed.onEnd(() => ended.push('failed'));
    const open = streams.claim('a');
    open.onEnd(() => {
      ended.push('open');
      open.release();
    });
    streams.endAll();
    expect(ended).toEqual(['open']);
    expect(streams.size).toBe(0);
  });
});
