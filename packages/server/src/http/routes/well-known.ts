import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.ts';
import type { RouteDeps } from '../services.ts';

/**
 * RFC 8414 authorization-server metadata, built from the endpoints that exist. Served only at
 * /.well-known/oauth-authorization-server: Tessera is not an OpenID provider (no ID tokens,
 * no authorization endpoint, no userinfo), so an openid-configuration document could only
 * be an invalid one that OIDC clients would trust.
 */
export function discoveryMetadata(config: Config) {
  const at = (path: string) => `${config.issuer}${path}`;
  return {
    issuer: config.issuer,
    jwks_uri: at('/.well-known/jwks.json'),
    token_endpoint: at('/oauth/token'),
    revocation_endpoint: at('/oauth/revoke'),
    introspection_endpoint: at('/oauth/introspect'),
    grant_types_supported: ['refresh_token'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
    // Tessera signs RFC 9068 access tokens only, all RS256.
    access_token_signing_alg_values_supported: ['RS256'],
    service_documentation: at('/docs'),
    // Not OAuth: the first-party REST endpoints (see openapi.yaml).
    tessera_endpoints: {
      register: at('/auth/register'),
      login: at('/auth/login'),
      refresh: at('/auth/refresh'),
      logout: at('/auth/logout'),
      logout_all: at('/auth/logout-all'),
      me: at('/auth/me'),
      password: at('/auth/password'),
      sessions: at('/auth/sessions'),
    },
  };
}

export async function wellKnownRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { config, keys } = deps;
  const metadata = JSON.stringify(discoveryMetadata(config));

  app.get('/.well-known/jwks.json', async (request, reply) => {
    const { etag, json } = keys.jwks();
    reply.header('cache-control', `public, max-age=${config.jwksMaxAge}`).header('etag', etag);
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(json);
  });

  app.get('/.well-known/oauth-authorization-server', async (_request, reply) =>
    reply.header('cache-control', `public, max-age=${config.jwksMaxAge}`).type('application/json; charset=utf-8').send(metadata),
  );
}
