// Per-route requirements on a verified token: a second factor and a recent authentication
// (RFC 9470 step-up, from the RFC 8176 `amr` and RFC 9068 `auth_time` claims), and roles
// (RFC 9068 §2.2.3.1). Pure functions; the Fastify plugin turns a failure into an answer.
import type { AccessTokenClaims } from './jwt.js';

/** What a route asks of the token, on top of it being valid. */
export interface AuthRequirements {
  /** A second factor: the token's `amr` must name one (e.g. `otp`, what Tessera writes after TOTP). */
  mfa?: boolean;
  /** The user authenticated (`auth_time`) at most this many seconds ago. */
  maxAge?: number;
  /** The token's `roles` claim must hold at least one of these. */
  roles?: readonly string[];
}

/** Why a valid token falls short, with what the challenge tells the client. */
export type RequirementFailure =
  | {
      /** RFC 9470: answered 401 with a step-up challenge. */
      error: 'insufficient_user_authentication';
      description: string;
      /** The `acr_values` to name (when a second factor is required). */
      acrValues?: string;
      /** The `max_age` to name (when a maximum age is required). */
      maxAge?: number;
    }
  | {
      /** RFC 6750 §3.1: answered 403. */
      error: 'insufficient_scope';
      description: string;
    };

/**
 * RFC 8176 methods that are a factor other than something the user knows: a token whose
 * `amr` names one of these was obtained with a second factor. `mfa` says so outright.
 */
export const SECOND_FACTOR_METHODS: readonly string[] = ['mfa', 'otp', 'hwk', 'swk', 'sms', 'tel', 'sc', 'fpt', 'face', 'iris', 'retina', 'vbm', 'pop'];

/**
 * The OpenID PAPE "multi-factor" policy URI: the `acr_values` a challenge names for a second
 * factor unless told otherwise (set Tessera's `ACR_MFA` to the same value to have tokens carry it).
 */
export const DEFAULT_MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

const OPTION_NAMES = new Set(['mfa', 'maxAge', 'roles']);

/** Validates requirements once, at route definition; throws a TypeError naming the bad option. */
export function validateRequirements(requirements: unknown): AuthRequirements {
  if (typeof requirements !== 'object' || requirements === null || Array.isArray(requirements)) {
    throw new TypeError('requireAuth: requirements must be an object like { mfa: true, maxAge: 300, roles: ["admin"] }');
  }
  const r = requirements as Record<string, unknown>;
  for (const name of Object.keys(r)) if (!OPTION_NAMES.has(name)) throw new TypeError(`requireAuth: unknown option "${name}"`);
  if (r.mfa !== undefined && typeof r.mfa !== 'boolean') throw new TypeError('requireAuth: option "mfa" must be a boolean');
  if (r.maxAge !== undefined && (typeof r.maxAge !== 'number' || !Number.isInteger(r.maxAge) || r.maxAge < 0)) {
    throw new TypeError('requireAuth: option "maxAge" must be a non-negative integer (seconds)');
  }
  if (r.roles !== undefined && (!Array.isArray(r.roles) || r.roles.length === 0 || !r.roles.every((x) => typeof x === 'string' && x.length > 0))) {
    throw new TypeError('requireAuth: option "roles" must be a non-empty array of non-empty strings');
  }
  return { ...(r as AuthRequirements), ...(r.roles ? { roles: [...(r.roles as string[])] } : {}) };
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/**
 * Checks a verified token against a route's requirements; undefined when it meets them.
 * Roles come first: a step-up cannot give the user a role, so there is no point asking for
 * one. A step-up challenge names every authentication requirement of the route, so one
 * new authentication satisfies them all.
 *
 * @example
 * ```ts
 * const failure = checkRequirements(claims, { mfa: true, maxAge: 300 }, { now: Math.floor(Date.now() / 1000) });
 * if (failure?.error === 'insufficient_user_authentication') reply.header('www-authenticate', stepUpChallenge(failure));
 * ```
 */
export function checkRequirements(
  claims: AccessTokenClaims,
  requirements: AuthRequirements,
  options: { now: number; clockTolerance?: number; mfaAcr?: string },
): RequirementFailure | undefined {
  if (requirements.roles) {
    const held = strings(claims.roles);
    if (!requirements.roles.some((role) => held.includes(role))) {
      return { error: 'insufficient_scope', description: `One of these roles is required: ${requirements.roles.join(', ')}` };
    }
  }
  const amr = strings(claims.amr);
  const mfaMissing = requirements.mfa === true && !amr.some((m) => SECOND_FACTOR_METHODS.includes(m));
  const authTime = claims.auth_time;
  const tooOld =
    requirements.maxAge !== undefined &&
    (typeof authTime !== 'number' || !Number.isFinite(authTime) || options.now - authTime > requirements.maxAge + (options.clockTolerance ?? 0));
  if (!mfaMissing && !tooOld) return undefined;
  return {
    error: 'insufficient_user_authentication',
    description: mfaMissing ? 'A second factor is required' : 'More recent authentication is required',
    ...(requirements.mfa ? { acrValues: options.mfaAcr ?? DEFAULT_MFA_ACR } : {}),
    ...(requirements.maxAge !== undefined ? { maxAge: requirements.maxAge } : {}),
  };
}

/**
 * The `WWW-Authenticate` value of a step-up failure, written as RFC 9470 §3 writes it:
 * `Bearer error="insufficient_user_authentication", error_description="…", acr_values="…", max_age="…"`.
 */
export function stepUpChallenge(failure: Extract<RequirementFailure, { error: 'insufficient_user_authentication' }>): string {
  const params = [`error="${failure.error}"`, `error_description="${failure.description}"`];
  if (failure.acrValues !== undefined) params.push(`acr_values="${failure.acrValues}"`);
  if (failure.maxAge !== undefined) params.push(`max_age="${failure.maxAge}"`);
  return `Bearer ${params.join(', ')}`;
}
