import type { Clock } from '../clock.ts';
import { DenylistMirror } from '@tessera/verifier';
import type { Denylist, DenylistEntry, RevocationSubject } from './denylist.ts';

/** The single-replica denylist of the embedded default: the mirror is the store. */
export class MemoryDenylist implements Denylist {
  private readonly mirror = new DenylistMirror();
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly clock: Clock) {}

  async revoke(entry: DenylistEntry): Promise<void> {
    this.mirror.apply(entry);
  }

  isRevoked(subject: RevocationSubject): boolean {
    return this.mirror.isRevoked(subject, this.clock.now());
  }

  status() {
    return 'ok' as const;
  }

  size(): number {
    this.mirror.prune(this.clock.now());
    return this.mirror.size;
  }

  async start(): Promise<void> {
    this.pruneTimer = setInterval(() => this.mirror.prune(this.clock.now()), 60_000);
    this.pruneTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
  }
}
