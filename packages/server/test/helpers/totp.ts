// An independent RFC 6238 implementation for the tests (node:crypto only, not the otpauth
// library the server uses), checked against the RFC's own test vectors in
// test/mfa/totp-vectors.test.ts. Tests compute every code a user would type with it.
import crypto from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { bearer, PASSWORD } from './flows.ts';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 §5.3 HOTP with RFC 6238's time counter. */
export function totpAt(key: Buffer, timeMs: number, options: { digits?: number; algorithm?: 'sha1' | 'sha256' | 'sha512'; period?: number } = {}): string {
  const { digits = 6, algorithm = 'sha1', period = 30 } = options;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / period)));
  const mac = crypto.createHmac(algorithm, key).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(binary).padStart(digits, '0');
}

/** The 6-digit code an authenticator app shows for a base32 secret at `timeMs`. */
export const codeFor = (secret: string, timeMs: number) => totpAt(base32Decode(secret), timeMs);

/** Enrols and confirms TOTP for a signed-in user; returns the secret and the recovery codes. */
export async function enableTotp(app: FastifyInstance, accessToken: string, nowMs: number, password = PASSWORD) {
  const enroll = await app.inject({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(accessToken), payload: { password } });
  expect(enroll.statusCode, enroll.body).toBe(200);
  const { secret, otpauth_uri } = enroll.json<{ secret: string; otpauth_uri: string }>();
  const confirm = await app.inject({ method: 'POST', url: '/auth/mfa/totp/confirm', headers: bearer(accessToken), payload: { code: codeFor(secret, nowMs) } });
  expect(confirm.statusCode, confirm.body).toBe(200);
  return { secret, otpauthUri: otpauth_uri, recoveryCodes: confirm.json<{ recovery_codes: string[] }>().recovery_codes };
}

/** The start of the next 30-second step after `ms`: a code no one has used yet. */
export const nextStep = (ms: number) => (Math.floor(ms / 30_000) + 1) * 30_000;
