import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { generateKeyFile, publicJwk, readKeyFiles, withDirLock, type KeyFile, type PublicJwk, type SkippedKeyFile } from './key-files.ts';
import { keyStates, type KeyStatus } from './rotation.ts';

export interface KeyStoreOptions {
  dir: string;
  modulusLength: number;
  clock: Clock;
  logger: Logger;
  /** How long a retired key stays published: the longest lifetime of a token it signed. */
  retiredKeyGraceSeconds: number;
  /** Minimum time between folder re-reads triggered by an unknown `kid`. */
  reloadCooldownMs?: number;
}

export interface Jwks {
  keys: PublicJwk[];
}

/**
 * The keys in keys/, held in memory. Signs with the newest activated key, publishes every
 * key that may still have live tokens, and re-reads the folder when asked about a `kid`
 * it does not know (another replica may have rotated), at most once per cooldown.
 */
export class KeyStore {
  private keys: KeyFile[] = [];
  private byKid = new Map<string, KeyFile>();
  private jwksCache: { body: Jwks; etag: string; json: string; kids: string } | undefined;
  /** When the folder was last read, successfully or not: the cooldown counts from attempts. */
  private lastReloadAttempt = -Infinity;
  private reloading: Promise<void> | undefined;
  /** Files skipped by the last read (a damaged key stops the first key from being generated over it). */
  private skipped: SkippedKeyFile[] = [];
  /** "file: reason" already warned about: a stray file is reported once, not on every re-read. */
  private readonly warned = new Set<string>();
  private reloadTimer: NodeJS.Timeout | undefined;
  private lastSigningKid: string | undefined;

  private constructor(private readonly options: KeyStoreOptions) {}

  /** Loads the folder; generates a first key when it holds none. */
  static async open(options: KeyStoreOptions): Promise<KeyStore> {
    const store = new KeyStore(options);
    // A missing folder is created on first start (config checked that its parent is writable).
    await fs.mkdir(options.dir, { recursive: true, mode: 0o700 });
    await store.reload();
    if (store.keys.length === 0) {
      await withDirLock(options.dir, async () => {
        // Another replica may have generated one while we waited for the lock.
        await store.reload();
        if (store.keys.length > 0) return;
        // A key file that is there but unusable is a problem to fix, not a reason for a new key.
        const damaged = store.skipped.filter((s) => s.looksLikeKey);
        if (damaged.length > 0) {
          throw new Error(`no usable signing key in ${options.dir}: ${damaged.map((d) => `${d.file}: ${d.reason}`).join('; ')}`);
        }
        const key = await generateKeyFile(options.dir, {
          modulusLength: options.modulusLength,
          now: options.clock.now(),
        });
        options.logger.info({ event: 'key.generated', kid: key.meta.kid, dir: options.dir }, 'generated a new signing key');
        await store.reload();
      });
    }
    return store;
  }

  /**
   * Re-reads keys/ every `intervalMs` so a rotation done on any machine (the CLI writes the
   * shared folder) reaches this replica without a restart.
   */
  startAutoReload(intervalMs: number): void {
    this.reloadTimer = setInterval(() => {
      this.reload().catch((err: unknown) =>
        this.options.logger.error({ event: 'key.reload_failed', err }, 'could not re-read the keys folder'),
      );
    }, intervalMs);
    this.reloadTimer.unref();
  }

  close(): void {
    clearInterval(this.reloadTimer);
  }

  async reload(): Promise<void> {
    this.reloading ??= (async () => {
      try {
        this.lastReloadAttempt = this.options.clock.now();
        const skipped: SkippedKeyFile[] = [];
        const keys = await readKeyFiles(this.options.dir, (s) => skipped.push(s));
        this.keys = keys;
        this.byKid = new Map(keys.map((k) => [k.meta.kid, k]));
        this.jwksCache = undefined;
        this.skipped = skipped;
        for (const s of skipped) this.warnOnce(s);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  /** The key that signs new tokens: the most recently activated one. */
  signingKey(): { kid: string; privateKey: crypto.KeyObject } {
    const now = this.options.clock.now();
    let best: KeyFile | undefined;
    for (const key of this.keys) {
      const activates = Date.parse(key.meta.activates_at);
      if (activates > now) continue;
      if (!best || activates > Date.parse(best.meta.activates_at) ||
          (activates === Date.parse(best.meta.activates_at) && key.meta.kid > best.meta.kid)) {
        best = key;
      }
    }
    if (!best) throw new Error('no active signing key in the keys folder');
    if (best.meta.kid !== this.lastSigningKid) {
      if (this.lastSigningKid !== undefined) {
        this.options.logger.info({ event: 'key.activated', kid: best.meta.kid, previous_kid: this.lastSigningKid }, 'signing with a new key');
      }
      this.lastSigningKid = best.meta.kid;
    }
    return { kid: best.meta.kid, privateKey: best.privateKey };
  }

  /** A published key by `kid`, or undefined. Never returns a key past its retirement grace. */
  publicKey(kid: string): crypto.KeyObject | undefined {
    const key = this.byKid.get(kid);
    return key && this.isPublished(key) ? key.publicKey : undefined;
  }

  /**
   * Like publicKey, but re-reads the folder (at most once per cooldown, counted from the
   * last attempt whether it worked or not) before giving up. Never throws: a folder that
   * cannot be read leaves the keys known so far, and an unknown kid stays unknown (401).
   */
  async publicKeyOrReload(kid: string): Promise<crypto.KeyObject | undefined> {
    const known = this.publicKey(kid);
    if (known) return known;
    const cooldown = this.options.reloadCooldownMs ?? 5_000;
    if (this.options.clock.now() - this.lastReloadAttempt < cooldown) return undefined;
    try {
      await this.reload();
    } catch (err) {
      this.options.logger.error({ event: 'key.reload_failed', err }, 'could not re-read the keys folder');
      return undefined;
    }
    return this.publicKey(kid);
  }

  private warnOnce(skipped: SkippedKeyFile): void {
    const id = `${skipped.file}: ${skipped.reason}`;
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.options.logger.warn(
      { event: 'key.file_skipped', file: skipped.file, reason: skipped.reason, dir: this.options.dir },
      'ignoring a file in the keys folder that is not a usable key file',
    );
  }

  jwks(): { body: Jwks; etag: string; json: string } {
    // Publication depends on the clock (retired keys drop out), so the cache is keyed by
    // the set of published kids, not only invalidated on reload.
    const published = this.keys.filter((k) => this.isPublished(k));
    const kids = published.map((k) => k.meta.kid).join(',');
    if (this.jwksCache?.kids !== kids) {
      const body: Jwks = { keys: published.map(publicJwk) };
      const json = JSON.stringify(body);
      const etag = `"${crypto.createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
      this.jwksCache = { body, etag, json, kids };
    }
    return this.jwksCache;
  }

  /** For readiness: at least one key can sign right now. */
  hasSigningKey(): boolean {
    try {
      this.signingKey();
      return true;
    } catch {
      return false;
    }
  }

  list(): KeyFile[] {
    return [...this.keys];
  }

  /** Each loaded key with its rotation state now (metrics, operators). */
  states(): KeyStatus[] {
    return keyStates(this.keys.map((k) => k.meta), this.options.clock.now(), this.options.retiredKeyGraceSeconds);
  }

  private isPublished(key: KeyFile): boolean {
    if (!key.meta.retired_at) return true;
    const until = Date.parse(key.meta.retired_at) + this.options.retiredKeyGraceSeconds * 1000;
    return this.options.clock.now() < until;
  }
}
