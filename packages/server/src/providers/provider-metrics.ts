// Prometheus series of social sign-in, on the app's registry.
import { Counter, type Registry } from 'prom-client';

export class ProviderMetrics {
  readonly signIns: Counter<'provider' | 'outcome'>;
  readonly identityChanges: Counter<'provider' | 'change'>;

  constructor(registry: Registry, providers: readonly string[]) {
    this.signIns = new Counter({
      name: 'tessera_provider_sign_ins_total',
      help: 'Provider sign-ins by provider and outcome (succeeded, mfa_required, or the error code of a refusal).',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    });
    this.identityChanges = new Counter({
      name: 'tessera_identity_changes_total',
      help: 'Provider identities linked (by a sign-in that created or matched an account, or by a signed-in user) and unlinked.',
      labelNames: ['provider', 'change'] as const,
      registers: [registry],
    });
    for (const provider of providers) {
      for (const outcome of ['succeeded', 'mfa_required']) this.signIns.inc({ provider, outcome }, 0);
      for (const change of ['linked', 'unlinked']) this.identityChanges.inc({ provider, change }, 0);
    }
  }
}
