// The tests' own TOTP (test/helpers/totp.ts) is checked against RFC 6238 Appendix B, and the
// server's (otpauth) against the tests': two implementations agreeing with the RFC.
import { describe, expect, it } from 'vitest';
import * as OTPAuth from 'otpauth';
import { matchTotp, newRecoveryCodes, newTotpSecret, normalizeRecoveryCode } from '../../src/mfa/codes.ts';
import { codeFor, totpAt } from '../helpers/totp.ts';

// RFC 6238 Appendix B: the seeds are ASCII "1234567890" repeated to the hash's size.
const SEED = { sha1: Buffer.from('12345678901234567890'), sha256: Buffer.from('12345678901234567890123456789012'), sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234') };
const VECTORS: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

describe('TOTP', () => {
  it.each(VECTORS)('the tests\' implementation matches RFC 6238 Appendix B at T=%i', (seconds, sha1, sha256, sha512) => {
    expect(totpAt(SEED.sha1, seconds * 1000, { digits: 8 })).toBe(sha1);
    expect(totpAt(SEED.sha256, seconds * 1000, { digits: 8, algorithm: 'sha256' })).toBe(sha256);
    expect(totpAt(SEED.sha512, seconds * 1000, { digits: 8, algorithm: 'sha512' })).toBe(sha512);
  });

  it("the server's library agrees with it, and accepts one step of drift either way, not two", async () => {
    const secret = await newTotpSecret();
    expect(OTPAuth.Secret.fromBase32(secret).bytes.length).toBe(20);
    const now = Date.UTC(2026, 5, 1, 12, 0, 10);
    const step = Math.floor(now / 30_000);
    expect(await matchTotp(secret, codeFor(secret, now), now)).toBe(step);
    expect(await matchTotp(secret, codeFor(secret, now - 30_000), now)).toBe(step - 1);
    expect(await matchTotp(secret, codeFor(secret, now + 30_000), now)).toBe(step + 1);
    expect(await matchTotp(secret, codeFor(secret, now - 60_000), now)).toBeUndefined();
    expect(await matchTotp(secret, codeFor(secret, now + 60_000), now)).toBeUndefined();
    // RFC 6238 Appendix B through the server's own code path (6 digits: the last six of the 8-digit vector).
    const rfcSecret = new OTPAuth.Secret({ buffer: SEED.sha1.buffer.slice(SEED.sha1.byteOffset, SEED.sha1.byteOffset + 20) as ArrayBuffer }).base32;
    expect(await matchTotp(rfcSecret, '287082', 59_000)).toBe(1);
  });

  it('recovery codes are ten distinct 80-bit codes in groups of four', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    expect(normalizeRecoveryCode(' ABCD-efgh ijkl-MNOP ')).toBe('abcdefghijklmnop');
  });
});
