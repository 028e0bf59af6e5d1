// Shared by the client back-off suites (unit and Redis): the clients, their Basic header,
// and how a burst's answers are told apart.
import type { LightMyRequestResponse } from 'fastify';

export const ADMIN = { id: 'ops-console', secret: 'a-long-admin-secret-for-tests' };
export const RESOURCE = { id: 'billing-api', secret: 'introspection-secret-for-tests' };
export const BUDGET = 5;

export const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

/** The environment of both suites: both lists of clients, the back-off on, per-IP budgets out of the way. */
export const clientEnv = {
  ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}`,
  INTROSPECTION_CLIENTS: `${RESOURCE.id}:${RESOURCE.secret}:introspect+revoke+revocations`,
  RATE_LIMIT_ENABLED: 'true',
  LOGIN_FAILURES_BEFORE_BACKOFF: String(BUDGET),
  RATE_LIMIT_IP_PER_MINUTE: '100000',
};

/** How many of the responses answered the credentials (401) and how many were refused unread (429). */
export function tally(responses: LightMyRequestResponse[]): { compared: number; refused: number; other: number } {
  const compared = responses.filter((r) => r.statusCode === 401).length;
  const refused = responses.filter((r) => r.statusCode === 429).length;
  return { compared, refused, other: responses.length - compared - refused };
}
