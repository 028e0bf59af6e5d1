// The open /revocations/stream connections of this replica: so draining and shutdown can end
// them instead of waiting on them, and so one client cannot hold an unbounded number of them
// (each costs socket buffers, a heartbeat timer and a log listener; 3,000 from one client
// were ~115 MiB). The cap is per replica: a stream lives on the replica that serves it, so
// nothing needs sharing, and a client reconnecting elsewhere after a drain finds slots there.
import { AuthError } from '../errors.ts';

export interface StreamSlot {
  /** Registers how to end the stream (draining, shutdown). */
  onEnd(end: () => void): void;
  /** Gives the slot back; safe to call more than once. */
  release(): void;
}

export class FeedStreams {
  private readonly ends = new Set<() => void>();
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly maxPerClient: number,
    /** Told of every refused stream (the metrics count them by client). */
    private readonly onRefused: (clientId: string) => void = () => {},
  ) {}

  /**
   * Takes a slot for one more stream of `clientId`, before anything is read or sent, or
   * throws 429 `too_many_streams`. Synchronous, so two requests on this replica cannot both
   * take the last slot.
   */
  claim(clientId: string): StreamSlot {
    const held = this.perClient.get(clientId) ?? 0;
    if (held >= this.maxPerClient) {
      this.onRefused(clientId);
      throw new AuthError(
        'too_many_streams',
        `This client already holds ${this.maxPerClient} open streams on this server (REVOCATION_FEED_MAX_STREAMS_PER_CLIENT); close one first`,
      );
    }
    this.perClient.set(clientId, held + 1);
    let end: (() => void) | undefined;
    let released = false;
    return {
      onEnd: (fn) => {
        end = fn;
        if (!released) this.ends.add(fn);
      },
      release: () => {
        if (released) return;
        released = true;
        if (end) this.ends.delete(end);
        const left = (this.perClient.get(clientId) ?? 1) - 1;
        if (left > 0) this.perClient.set(clientId, left);
        else this.perClient.delete(clientId);
      },
    };
  }

  endAll(): void {
    for (const end of [...this.ends]) end();
  }

  /** Open streams (slots taken) on this replica, every client together. */
  get size(): number {
    let total = 0;
    for (const n of this.perClient.values()) total += n;
    return total;
  }
}
