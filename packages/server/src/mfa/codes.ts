// The secrets of the second factor: TOTP (RFC 6238, through otpauth), recovery codes and
// the mfa_token of a login waiting for its code. Pure functions, no storage.
import crypto from 'node:crypto';
import type * as OTPAuthModule from 'otpauth';

/** otpauth is loaded at the first TOTP use, not at start (docs/performance.md, "Footprint"). */
let library: Promise<typeof OTPAuthModule> | undefined;
const otpauth = () => (library ??= import('otpauth'));

/** RFC 6238 with what every authenticator app understands: SHA-1, 6 digits, 30 s. */
const PERIOD = 30;
const DIGITS = 6;
const ALGORITHM = 'SHA1';
/** Codes one step before or after the current one are accepted (clock drift, slow typing). */
const DRIFT_STEPS = 1;

export const RECOVERY_CODE_COUNT = 10;

/** A new TOTP secret: 160 bits (RFC 4226 §4 recommends the HMAC's output size), base32. */
export async function newTotpSecret(): Promise<string> {
  const OTPAuth = await otpauth();
  return new OTPAuth.Secret({ size: 20 }).base32;
}

/** The otpauth:// URI an authenticator app reads (usually from a QR code). */
export async function otpauthUri(secret: string, issuer: string, account: string): Promise<string> {
  return totp(await otpauth(), secret, issuer, account).toString();
}

/**
 * The time step the code belongs to, if it is right for now or one step either side;
 * undefined otherwise. The caller accepts it only if no code of this step or a later one
 * was accepted before (replay).
 */
export async function matchTotp(secret: string, code: string, nowMs: number): Promise<number | undefined> {
  const OTPAuth = await otpauth();
  const delta = totp(OTPAuth, secret).validate({ token: code, timestamp: nowMs, window: DRIFT_STEPS });
  if (delta === null) return undefined;
  return OTPAuth.TOTP.counter({ period: PERIOD, timestamp: nowMs }) + delta;
}

function totp(OTPAuth: typeof OTPAuthModule, secret: string, issuer = 'Tessera', label = 'account'): OTPAuthModule.TOTP {
  return new OTPAuth.TOTP({
    issuer,
    label,
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD,
    secret: OTPAuth.Secret.fromBase32(secret),
  });
}

// RFC 4648 base32, lower case: no 0/1/8/9, so nothing to confuse with o/l/b/g.
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Ten codes of 80 random bits each, shown once as `xxxx-xxxx-xxxx-xxxx`. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const bytes = crypto.randomBytes(16);
    const chars = [...bytes].map((b) => BASE32[b & 31]).join('');
    return chars.match(/.{4}/g)!.join('-');
  });
}

/** The form codes are compared in: lower case, no dashes or spaces. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '');
}

/** 80 random bits need no slow hash: SHA-256 of the normalised code. */
export function hashRecoveryCode(code: string): string {
  return crypto.createHash('sha256').update(normalizeRecoveryCode(code)).digest('base64url');
}

const MFA_TOKEN_PREFIX = 'mfa_';

export function newMfaToken(): string {
  return MFA_TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
}

export function hashMfaToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('base64url');
}

/** Binds a challenge to a password hash without keeping a second copy of the hash. */
export function passwordDigest(passwordHash: string | null): string {
  // No password (an account a provider created): a digest no hash has, so setting a first
  // password still voids the challenge.
  return crypto.createHash('sha256').update(passwordHash ?? 'no-password').digest('base64url');
}
