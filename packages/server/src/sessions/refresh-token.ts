// Refresh tokens are opaque random strings. The database only ever holds their SHA-256
// hash (lookup) and, for a rotated token, its successor sealed under a key derived from
// the rotated token itself, so only someone holding that token can recover the successor.
import crypto from 'node:crypto';

const PREFIX = 'rt_';
/** 32 bytes = 256 bits from the CSPRNG. */
const RANDOM_BYTES = 32;
const TOKEN_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/;

export function generateRefreshToken(): string {
  return PREFIX + crypto.randomBytes(RANDOM_BYTES).toString('base64url');
}

/** A cheap shape check before touching the database: junk never costs a query. */
export function looksLikeRefreshToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** SHA-256 is enough: the input has 256 bits of entropy, so there is nothing to brute-force. */
export function hashRefreshToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('base64url');
}

function sealingKey(token: string): Buffer {
  // Domain-separated from the lookup hash so the stored hash cannot open the seal.
  return crypto.createHash('sha256').update('tessera.refresh.successor\0').update(token).digest();
}

export function sealSuccessor(token: string, successor: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', sealingKey(token), iv);
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** Returns undefined when the seal does not open with this token (never throws). */
export function openSuccessor(token: string, sealed: string): string | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const iv = raw.subarray(0, 12);
    const tag = raw.subarray(raw.length - 16);
    const decipher = crypto.createDecipheriv('aes-256-gcm', sealingKey(token), iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
