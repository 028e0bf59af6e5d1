// The in-memory copy of the denylist that every replica and every verifying service
// keeps. Checking a token against it is a few Map look-ups: no network on the hot path.

/** One revocation. `until` (ms since epoch) is when no token it can affect is still alive. */
export type DenylistEntry =
  | { kind: 'session'; id: string; until: number }
  | { kind: 'token'; id: string; until: number }
  /** Every token of user `id` issued before `before` (seconds, compared with `iat`). */
  | { kind: 'user'; id: string; before: number; until: number };

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
      case 'session':
        this.sessions.set(entry.id, Math.max(entry.until, this.sessions.get(entry.id) ?? 0));
        break;
      case 'token':
        this.tokens.set(entry.id, Math.max(entry.until, this.tokens.get(entry.id) ?? 0));
        break;
      case 'user': {
        // Cut-offs only move forward: a late, older message must not resurrect tokens.
        const known = this.users.get(entry.id);
        this.users.set(entry.id, {
          before: Math.max(entry.before, known?.before ?? 0),
          until: Math.max(entry.until, known?.until ?? 0),
        });
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
