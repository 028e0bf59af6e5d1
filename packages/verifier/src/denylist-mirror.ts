// The in-memory copy of the denylist that every replica and every verifying service
// keeps. Checking a token against it is a few Map look-ups: no network on the hot path.

import { mergeEntries, type DenylistEntry } from './revocation-model.js';

export type { DenylistEntry };

export interface RevocationSubject {
  sid?: string;
  jti?: string;
  sub?: string;
  iat?: number;
}

export class DenylistMirror {
  private readonly sessions = new Map<string, number>();
  private readonly tokens = new Map<string, number>();
  private readonly users = new Map<string, { before: number; until: number }>();

  apply(entry: DenylistEntry): void {
    switch (entry.kind) {
      // Forward-only (mergeEntries): a late, older message must not resurrect tokens.
      case 'session':
      case 'token': {
        const map = entry.kind === 'session' ? this.sessions : this.tokens;
        const known = map.get(entry.id);
        map.set(entry.id, known === undefined ? entry.until : mergeEntries({ ...entry, until: known }, entry).until);
        break;
      }
      case 'user': {
        const known = this.users.get(entry.id);
        const merged = known === undefined ? entry : mergeEntries({ ...entry, ...known }, entry);
        this.users.set(entry.id, { before: merged.before, until: merged.until });
        break;
      }
    }
  }

  /** Replaces the whole content (full reload after start or reconnect). */
  replaceAll(entries: Iterable<DenylistEntry>): void {
    this.sessions.clear();
    this.tokens.clear();
    this.users.clear();
    for (const entry of entries) this.apply(entry);
  }

  isRevoked(subject: RevocationSubject, now: number): boolean {
    if (subject.sid !== undefined) {
      const until = this.sessions.get(subject.sid);
      if (until !== undefined && until > now) return true;
    }
    if (subject.jti !== undefined) {
      const until = this.tokens.get(subject.jti);
      if (until !== undefined && until > now) return true;
    }
    if (subject.sub !== undefined && subject.iat !== undefined) {
      const cut = this.users.get(subject.sub);
      if (cut !== undefined && cut.until > now && subject.iat < cut.before) return true;
    }
    return false;
  }

  /** Drops expired entries so the mirror stays as small as the set of live revocations. */
  prune(now: number): void {
    for (const [id, until] of this.sessions) if (until <= now) this.sessions.delete(id);
    for (const [id, until] of this.tokens) if (until <= now) this.tokens.delete(id);
    for (const [id, cut] of this.users) if (cut.until <= now) this.users.delete(id);
  }

  get size(): number {
    return this.sessions.size + this.tokens.size + this.users.size;
  }

  entries(): DenylistEntry[] {
    return [
      ...[...this.sessions].map(([id, until]) => ({ kind: 'session' as const, id, until })),
      ...[...this.tokens].map(([id, until]) => ({ kind: 'token' as const, id, until })),
      ...[...this.users].map(([id, cut]) => ({ kind: 'user' as const, id, ...cut })),
    ];
  }
}
