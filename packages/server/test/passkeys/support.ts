// Shared steps of the passkey tests: options, a software authenticator's answer, the routes.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { bearer } from '../helpers/flows.ts';
import { SoftwareAuthenticator, type AuthenticatorOptions, type Tamper } from '../helpers/webauthn-authenticator.ts';

export async function registrationOptions(app: FastifyInstance, accessToken: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const res = await app.inject({ method: 'POST', url: '/auth/passkeys/register/options', headers: bearer(accessToken), payload: {} });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** Registers a new software passkey for the bearer's user; returns the authenticator and the passkey. */
export async function addPasskey(app: FastifyInstance, accessToken: string, options: AuthenticatorOptions = {}, name?: string) {
  const authenticator = new SoftwareAuthenticator(options);
  const res = await app.inject({
    method: 'POST',
    url: '/auth/passkeys/register',
    headers: bearer(accessToken),
    payload: { credential: authenticator.register(await registrationOptions(app, accessToken)), ...(name ? { name } : {}) },
  });
  expect(res.statusCode, res.body).toBe(201);
  return { authenticator, passkey: res.json() as { id: string; name: string; backed_up: boolean; transports: string[]; created_at: string; last_used_at: string | null } };
}

export async function loginOptions(app: FastifyInstance): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const res = await app.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

export function passkeyLogin(app: FastifyInstance, credential: unknown, extra: Record<string, unknown> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/auth/passkeys/login', payload: { credential, ...extra } });
}

/** A fresh discoverable sign-in ceremony, answered by `authenticator` (tampered as asked). */
export async function signInWith(app: FastifyInstance, authenticator: SoftwareAuthenticator, tamper: Tamper = {}): Promise<LightMyRequestResponse> {
  return passkeyLogin(app, authenticator.assert(await loginOptions(app), tamper));
}
