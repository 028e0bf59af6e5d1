// The configured providers by name. The providers' code (and jose, openid-client) is
// imported only here and only when PROVIDERS names one: a replica without providers never
// loads it (docs/performance.md, "Footprint"). openid-client only for an OpenID Connect one.
import type { Clock } from '../clock.ts';
import { AuthError } from '../errors.ts';
import type { ProviderConfig } from './provider-config.ts';
import type { SignInProvider } from './provider.ts';

export interface ProviderSummary {
  name: string;
  display_name: string;
  type: 'oidc' | 'oauth2';
}

export class ProviderRegistry {
  private constructor(private readonly providers: Map<string, SignInProvider>) {}

  static async create(configs: readonly ProviderConfig[], clock: Clock): Promise<ProviderRegistry> {
    const oidc = configs.some((c) => c.type === 'oidc');
    const lib = oidc ? await import('openid-client') : undefined;
    const { OidcProvider } = oidc ? await import('./oidc-provider.ts') : {};
    const { GitHubProvider } = configs.some((c) => c.type === 'oauth2') ? await import('./github-provider.ts') : {};
    const providers = new Map<string, SignInProvider>();
    for (const config of configs) {
      providers.set(config.name, config.type === 'oauth2' ? new GitHubProvider!(config) : new OidcProvider!(lib!, config, clock));
    }
    return new ProviderRegistry(providers);
  }

  static empty(): ProviderRegistry {
    return new ProviderRegistry(new Map());
  }

  /** Throws unknown_provider for a name PROVIDERS does not list. */
  get(name: string): SignInProvider {
    const provider = this.providers.get(name);
    if (!provider) throw new AuthError('unknown_provider', 'No such sign-in provider');
    return provider;
  }

  list(): ProviderSummary[] {
    return [...this.providers.values()].map((p) => ({ name: p.name, display_name: p.displayName, type: p.type }));
  }
}
