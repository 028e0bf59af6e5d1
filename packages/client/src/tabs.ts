// Coordination between the tabs of one app (same origin), so that ten open tabs cost one
// refresh, not ten. Every tab holds the access token in memory; the refresh cookie is shared
// by the browser. A refresh runs under a Web Lock (one tab at a time), and its result is
// broadcast to the other tabs, which adopt it instead of refreshing themselves.
//
// Each tab also holds a "presence" lock of its own, so a tab that asks the others for a token
// knows how many will answer and waits for exactly those answers (not for a guessed delay).
// Where Web Locks are missing (older browsers), a short claim round on the BroadcastChannel
// picks one tab to refresh and answers are awaited for a fixed delay. Where BroadcastChannel
// is missing too (React Native), every instance works alone.

import type { SessionEndReason } from './errors.js';

export interface SharedToken {
  accessToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** When it is due for a refresh (ms), fixed by the tab that received it from Tessera. */
  refreshAt: number;
}

export type TabMessage =
  | ({ type: 'token' } & SharedToken)
  | { type: 'token-request'; requestId: string }
  | { type: 'token-reply'; requestId: string; token: SharedToken | null }
  | { type: 'ended'; reason: SessionEndReason }
  | { type: 'claim'; id: string; at: number };

/** Without Web Locks: how long a tab waits for answers (a token, or a rival claim). */
export const PEER_WAIT_MS = 150;
/** With Web Locks: the longest wait for the known peers' answers (a frozen tab never answers). */
const PEER_REPLY_TIMEOUT_MS = 2_000;
/** How long a tab that yielded a refresh waits for the winner's token before refreshing itself. */
const YIELD_WAIT_MS = 5_000;

interface LockManagerLike {
  request(name: string, callback: () => Promise<unknown>): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

const randomId = () => Math.random().toString(36).slice(2) + Date.now().toString(36);

export class Tabs {
  private readonly channel: BroadcastChannel | undefined;
  private readonly locks: LockManagerLike | undefined;
  private readonly listeners = new Set<(message: TabMessage) => void>();
  private readonly id = randomId();
  private releasePresence: (() => void) | undefined;
  /**
   * Without Web Locks: when another tab last claimed a refresh whose result has not arrived
   * yet (0: none pending). A tab whose timer fires after that claim round is over (a busy
   * event loop delays timers by more than PEER_WAIT_MS) must still yield to it.
   */
  private peerClaimAt = 0;

  constructor(
    private readonly name: string,
    enabled: boolean,
  ) {
    const g = globalThis as { BroadcastChannel?: typeof BroadcastChannel; navigator?: { locks?: LockManagerLike } };
    this.channel = enabled && typeof g.BroadcastChannel === 'function' ? new g.BroadcastChannel(name) : undefined;
    const locks = g.navigator?.locks;
    this.locks = this.channel && typeof locks?.request === 'function' && typeof locks.query === 'function' ? locks : undefined;
    this.channel?.addEventListener('message', (event: MessageEvent) => {
      const message = event.data as TabMessage;
      if (message && typeof message === 'object' && typeof message.type === 'string') {
        if (message.type === 'claim') this.peerClaimAt = Date.now();
        else if (message.type === 'token' || message.type === 'ended') this.peerClaimAt = 0;
        for (const listener of this.listeners) listener(message);
      }
    });
    // Held until the tab closes (the browser releases it) or close() is called.
    void this.locks?.request(this.presenceLock(this.id), () => new Promise<void>((resolve) => (this.releasePresence = resolve)));
  }

  post(message: TabMessage): void {
    this.channel?.postMessage(message);
  }

  onMessage(listener: (message: TabMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Asks the other tabs for an access token; resolves with the first answer that `accept`s,
   * or undefined once every known peer answered without one (at once when there is none).
   * The caller must answer 'token-request' messages with a 'token-reply'.
   */
  async askForToken(accept: (token: SharedToken) => boolean): Promise<SharedToken | undefined> {
    if (!this.channel) return undefined;
    const peers = await this.peerCount();
    if (peers === 0) return undefined;
    const requestId = randomId();
    return new Promise((resolve) => {
      let replies = 0;
      const stop = this.onMessage((message) => {
        if (message.type !== 'token-reply' || message.requestId !== requestId) return;
        replies += 1;
        if (message.token && accept(message.token)) finish(message.token);
        else if (peers !== undefined && replies >= peers) finish(undefined);
      });
      const timer = setTimeout(() => finish(undefined), peers === undefined ? PEER_WAIT_MS : PEER_REPLY_TIMEOUT_MS);
      const finish = (token: SharedToken | undefined) => {
        clearTimeout(timer);
        stop();
        resolve(token);
      };
      this.post({ type: 'token-request', requestId });
    });
  }

  /**
   * Runs `work` in one tab at a time. With Web Locks, others queue on the lock. Without,
   * tabs that start within PEER_WAIT_MS of each other hold a claim round (and a tab that
   * starts later yields to a claim whose result is still pending): the earliest claim
   * runs, the others wait (bounded) for `settled` to see its result and then run `work`,
   * which finds the token fresh and returns at once.
   */
  async exclusive<T>(work: () => Promise<T>, settled: () => boolean): Promise<T> {
    if (this.locks) return (await this.locks.request(`${this.name}:refresh`, work)) as T;
    if (!this.channel) return work();
    // A claim still pending from an earlier round outranks us outright.
    let outranked = this.peerClaimAt > 0 && Date.now() - this.peerClaimAt < YIELD_WAIT_MS;
    if (!outranked) {
      const mine = { type: 'claim' as const, id: this.id, at: Date.now() };
      const stop = this.onMessage((message) => {
        if (message.type === 'claim' && (message.at < mine.at || (message.at === mine.at && message.id < mine.id))) outranked = true;
      });
      this.post(mine);
      await sleep(PEER_WAIT_MS);
      stop();
    }
    if (outranked) {
      const deadline = Date.now() + YIELD_WAIT_MS;
      while (!settled() && Date.now() < deadline) await sleep(PEER_WAIT_MS);
    }
    try {
      return await work();
    } finally {
      // Whatever was claimed before is settled for this tab now.
      this.peerClaimAt = 0;
    }
  }

  close(): void {
    this.listeners.clear();
    this.releasePresence?.();
    this.channel?.close();
  }

  /** Other open tabs of this app, from their presence locks; undefined without Web Locks. */
  private async peerCount(): Promise<number | undefined> {
    if (!this.locks) return undefined;
    const prefix = this.presenceLock('');
    const mine = this.presenceLock(this.id);
    const { held = [] } = await this.locks.query();
    return held.filter((lock) => lock.name?.startsWith(prefix) && lock.name !== mine).length;
  }

  private presenceLock(id: string): string {
    return `${this.name}:tab:${id}`;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
