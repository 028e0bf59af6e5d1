// The JSON forms of WebAuthn responses (RegistrationResponseJSON, AuthenticationResponseJSON),
// checked for shape before the library sees them: a malformed body is a 400 naming the
// field, never a library exception turned into a 500. Sizes are bounded generously
// (credential ids ≤ 1023 bytes, attestation objects with certificate chains).
import { z } from 'zod';
import { TRANSPORTS } from '../passkeys/relying-party.ts';

const base64url = (maxChars: number) =>
  z
    .string({ error: 'must be a base64url string' })
    .min(1, 'must not be empty')
    .max(maxChars, 'is too long')
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url');

const credentialId = base64url(1400);
const extensions = z.record(z.string(), z.unknown(), { error: 'must be an object' }).default({});
const attachment = z.enum(['platform', 'cross-platform'], { error: 'must be "platform" or "cross-platform"' }).optional();
const publicKey = z.literal('public-key', { error: 'must be "public-key"' });

/** What every PublicKeyCredential JSON carries around its `response`. */
const credentialFields = {
  id: credentialId,
  rawId: credentialId,
  type: publicKey,
  authenticatorAttachment: attachment,
  clientExtensionResults: extensions,
};

export const registrationCredential = z.object({
  ...credentialFields,
  response: z.object(
    {
      clientDataJSON: base64url(8192),
      attestationObject: base64url(32768),
      authenticatorData: base64url(8192).optional(),
      // Unknown transports from newer browsers are dropped, not refused.
      transports: z.array(z.string().max(32), { error: 'must be an array of strings' }).max(16).optional()
        .transform((list) => list?.filter((t): t is (typeof TRANSPORTS)[number] => (TRANSPORTS as readonly string[]).includes(t))),
      publicKeyAlgorithm: z.number().int().optional(),
      publicKey: base64url(4096).optional(),
    },
    { error: 'must be an object' },
  ),
}, { error: 'must be a RegistrationResponseJSON object' });

export const authenticationCredential = z.object({
  ...credentialFields,
  response: z.object(
    {
      clientDataJSON: base64url(8192),
      authenticatorData: base64url(8192),
      signature: base64url(2048),
      userHandle: base64url(128).nullish().transform((v) => v ?? undefined),
    },
    { error: 'must be an object' },
  ),
}, { error: 'must be an AuthenticationResponseJSON object' });

/** A passkey's display name: what the user calls it ("Work laptop"). */
export const passkeyName = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .refine((s) => s.isWellFormed(), 'must be valid Unicode')
  .refine((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s), 'must not contain control characters');
