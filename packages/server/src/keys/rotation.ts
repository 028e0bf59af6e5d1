// Key rotation without a single rejected token:
//   1. the new key is written with activates_at = now + the JWKS cache lifetime, so every
//      verifier's cached JWKS contains it before any token is signed with it;
//   2. at activates_at every replica (re-reading keys/) switches to it — no coordination
//      needed, the switch is a pure function of the clock;
//   3. the old key gets retired_at = that same instant and stays published until the last
//      token it signed has expired (retired_at + access-token TTL + skew).
import type { KeyFile, KeyMetadata } from './key-files.ts';
import { deleteKeyFiles, generateKeyFile, readKeyFiles, withDirLock, writeMetadata } from './key-files.ts';
import { MAX_CLOCK_SKEW_SECONDS } from '@tessera/verifier';

/** How long a retired key stays published: the longest lifetime of a token it signed, plus the skew. */
export function retiredKeyGraceSeconds(accessTokenTtl: number): number {
  return accessTokenTtl + MAX_CLOCK_SKEW_SECONDS;
}

export type KeyState =
  /** Published, not signing yet: verifiers are picking it up. */
  | 'pending'
  /** Signs new tokens. */
  | 'active'
  /** No longer signs; still published for the tokens it signed. */
  | 'retiring'
  /** Unpublished; its files can be deleted. */
  | 'expired';

export interface KeyStatus {
  meta: KeyMetadata;
  state: KeyState;
  /** When a retiring key stops being published. */
  unpublishAt?: string;
}

export function keyStates(metas: KeyMetadata[], now: number, retiredGraceSeconds: number): KeyStatus[] {
  const activated = metas.filter((m) => Date.parse(m.activates_at) <= now);
  const signing = activated.sort(byActivation).at(-1);
  return [...metas].sort(byActivation).map((meta) => {
    if (Date.parse(meta.activates_at) > now) return { meta, state: 'pending' as const };
    if (meta === signing) return { meta, state: 'active' as const };
    const retiredAt = Date.parse(meta.retired_at ?? meta.activates_at);
    const unpublishAt = retiredAt + retiredGraceSeconds * 1000;
    return {
      meta,
      state: now < unpublishAt ? ('retiring' as const) : ('expired' as const),
      unpublishAt: new Date(unpublishAt).toISOString(),
    };
  });
}

function byActivation(a: KeyMetadata, b: KeyMetadata): number {
  return Date.parse(a.activates_at) - Date.parse(b.activates_at) || a.kid.localeCompare(b.kid);
}

export interface RotateOptions {
  modulusLength: number;
  now: number;
  /** Seconds before the new key signs: at least the JWKS cache lifetime. */
  publishLeadSeconds: number;
  retiredGraceSeconds: number;
}

export class RotationPendingError extends Error {
  constructor(readonly kid: string) {
    super(`key ${kid} is still pending; rotate again after it has become active`);
  }
}

/** Adds the next key and schedules the switch. Refuses while another rotation is pending. */
export async function rotateKeys(dir: string, options: RotateOptions): Promise<{ added: KeyFile; retires?: string }> {
  return withDirLock(dir, async () => {
    const keys = await readKeyFiles(dir);
    const states = keyStates(keys.map((k) => k.meta), options.now, options.retiredGraceSeconds);
    const pending = states.find((s) => s.state === 'pending');
    if (pending) throw new RotationPendingError(pending.meta.kid);
    const active = states.find((s) => s.state === 'active');
    const activatesAt = options.now + options.publishLeadSeconds * 1000;
    const added = await generateKeyFile(dir, { modulusLength: options.modulusLength, now: options.now, activatesAt });
    if (active) await writeMetadata(dir, { ...active.meta, retired_at: new Date(activatesAt).toISOString() });
    return { added, ...(active ? { retires: active.meta.kid } : {}) };
  });
}

/** Deletes the files of keys no longer published. Returns their kids. */
export async function pruneExpiredKeys(dir: string, now: number, retiredGraceSeconds: number): Promise<string[]> {
  return withDirLock(dir, async () => {
    const keys = await readKeyFiles(dir);
    const expired = keyStates(keys.map((k) => k.meta), now, retiredGraceSeconds).filter((s) => s.state === 'expired');
    for (const key of expired) await deleteKeyFiles(dir, key.meta.kid);
    return expired.map((k) => k.meta.kid);
  });
}
