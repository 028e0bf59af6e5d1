// Prometheus metrics. Each app owns its own Registry (never prom-client's global one), so
// several apps in one process — the test suites, two "replicas" side by side — do not
// clash over metric names or mix their counts.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../clock.ts';
import type { KeyStore } from '../keys/key-store.ts';
import type { Denylist } from '../revocation/denylist.ts';

/** `throttled`: refused by the login back-off before the password was checked. */
export type LoginOutcome = 'succeeded' | 'failed' | 'throttled';
export type RefreshKind = 'rotated' | 'grace' | 'reused';
export type RevocationKind = 'session' | 'token' | 'user';

/**
 * What the services report. Kept this small so AuthService knows nothing of Prometheus,
 * and the CLI and unit tests run with `noopAuthMetrics`.
 */
export interface AuthMetrics {
  login(outcome: LoginOutcome): void;
  /** `reused` is a theft detection: the session was revoked, no token was issued. */
  refresh(kind: RefreshKind): void;
}

export const noopAuthMetrics: AuthMetrics = {
  login() {},
  refresh() {},
};

export type PasskeyCeremony = 'registration' | 'login' | 'second_factor' | 'step_up';
export type PasskeyOutcome = 'succeeded' | 'refused' | 'counter_regressed';

/** What the passkey service reports (passkeys/passkey-service.ts). */
export interface PasskeyMetrics {
  passkey(ceremony: PasskeyCeremony, outcome: PasskeyOutcome): void;
}

export interface AppMetricsOptions {
  /** Node process metrics (CPU, memory, event loop, GC). Off by default: they install
   * process-wide observers, which only the long-lived server should pay for. */
  processMetrics?: boolean;
}

// Latency buckets: a refresh is an RSA signature (~1 ms), a login an argon2 hash (~50 ms).
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Mirror lag: pub/sub is normally a millisecond or two; seconds mean a replica fell behind.
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];

export class AppMetrics implements AuthMetrics, PasskeyMetrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern (never the raw URL), method and status class.',
    labelNames: ['route', 'method', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly logins = new Counter({
    name: 'tessera_logins_total',
    help: 'Password logins by outcome (succeeded, failed, throttled by the login back-off).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly passkeyCeremonies = new Counter({
    name: 'tessera_passkey_ceremonies_total',
    help: 'Completed WebAuthn ceremonies by kind (registration, login, second_factor, step_up) and outcome (succeeded, refused, counter_regressed: a cloned authenticator).',
    labelNames: ['ceremony', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly refreshes = new Counter({
    name: 'tessera_refreshes_total',
    help: 'Successful refresh-token exchanges: rotated (a new token) or grace (a token rotated moments ago, concurrent refresh).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly graceHits = new Counter({
    name: 'tessera_refresh_grace_window_hits_total',
    help: 'Rotated refresh tokens presented again within the grace window (same events as tessera_refreshes_total{kind="grace"}).',
    registers: [this.registry],
  });

  readonly reuseDetections = new Counter({
    name: 'tessera_refresh_token_reuse_detected_total',
    help: 'Rotated refresh tokens presented after the grace window (possible theft); each revoked its session.',
    registers: [this.registry],
  });

  readonly revocations = new Counter({
    name: 'tessera_revocations_total',
    help: 'Denylist entries written by this replica, by kind (session, token, user cut-off); counted when requested, including those Redis confirms only later.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly mirrorLag = new Histogram({
    name: 'tessera_denylist_mirror_lag_seconds',
    help: "Time from a revocation's publication in Redis to its application in this replica's in-memory mirror (clocks of two machines: small skew possible).",
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });

  constructor(options: AppMetricsOptions = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'tessera_' });
    // Every known series starts at 0, so rate() and absent-vs-zero alerts work from the first scrape.
    for (const outcome of ['succeeded', 'failed', 'throttled'] as const) this.logins.inc({ outcome }, 0);
    for (const kind of ['rotated', 'grace'] as const) this.refreshes.inc({ kind }, 0);
    for (const ceremony of ['registration', 'login', 'second_factor', 'step_up'] as const) {
      for (const outcome of ['succeeded', 'refused', 'counter_regressed'] as const) this.passkeyCeremonies.inc({ ceremony, outcome }, 0);
    }
    for (const kind of ['session', 'token', 'user'] as const) this.revocations.inc({ kind }, 0);
  }

  passkey(ceremony: PasskeyCeremony, outcome: PasskeyOutcome): void {
    this.passkeyCeremonies.inc({ ceremony, outcome });
  }

  login(outcome: LoginOutcome): void {
    this.logins.inc({ outcome });
  }

  refresh(kind: RefreshKind): void {
    if (kind === 'reused') {
      this.reuseDetections.inc();
      return;
    }
    this.refreshes.inc({ kind });
    if (kind === 'grace') this.graceHits.inc();
  }

  /**
   * Gauges read at scrape time from the live objects, so they can never drift from what
   * the replica actually holds and cost nothing between scrapes.
   */
  observe(sources: { denylist: Denylist; keys: KeyStore; clock: Clock }): void {
    // Called once per app (buildApp): a second call would register the names twice and throw.
    const { denylist, keys, clock } = sources;
    new Gauge({
      name: 'tessera_denylist_entries',
      help: "Live entries in this replica's denylist mirror (expired ones pruned first).",
      registers: [this.registry],
      collect() {
        this.set(denylist.size());
      },
    });
    new Gauge({
      name: 'tessera_denylist_synced',
      help: '1 when the denylist is in step with Redis (connected, nothing unconfirmed; always 1 in memory mode), 0 when degraded.',
      registers: [this.registry],
      collect() {
        this.set(denylist.status() === 'ok' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tessera_signing_key_age_seconds',
      help: 'Seconds since each key in keys/ was created, with its rotation state (pending, active, retiring, expired).',
      labelNames: ['kid', 'state'] as const,
      registers: [this.registry],
      collect() {
        // Reset first: a pruned key, or one that changed state, must not linger as a stale series.
        this.reset();
        const now = clock.now();
        for (const { meta, state } of keys.states()) {
          this.set({ kid: meta.kid, state }, Math.max(0, (now - Date.parse(meta.created_at)) / 1000));
        }
      },
    });
  }

  /** Open revocation-feed streams on this replica (one per connected resource server, usually). */
  observeFeed(streams: { readonly size: number }): void {
    new Gauge({
      name: 'tessera_revocation_feed_streams',
      help: 'Open /revocations/stream connections on this replica.',
      registers: [this.registry],
      collect() {
        this.set(streams.size);
      },
    });
  }

  /** Wraps the denylist so every revocation is counted, whoever asks for it (auth, OAuth revoke, CLI). */
  countRevocations(denylist: Denylist): Denylist {
    const revocations = this.revocations;
    return {
      revoke(entry, options) {
        revocations.inc({ kind: entry.kind });
        return denylist.revoke(entry, options);
      },
      isRevoked: (subject) => denylist.isRevoked(subject),
      status: () => denylist.status(),
      size: () => denylist.size(),
      start: () => denylist.start(),
      close: () => denylist.close(),
      ...(denylist.observeMirrorLag ? { observeMirrorLag: denylist.observeMirrorLag.bind(denylist) } : {}),
      ...(denylist.feed ? { feed: denylist.feed } : {}),
      ...(denylist.restore ? { restore: denylist.restore.bind(denylist) } : {}),
      ...(denylist.record ? { record: denylist.record.bind(denylist) } : {}),
    };
  }

  /** The text exposition format. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
