import { z } from 'zod';
import { AuthError } from '../errors.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordLength } from '../users/password.ts';

export interface FieldError {
  field: string;
  message: string;
}

/** Parses with zod; a failure is a 400 validation_failed naming every bad field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors: FieldError[] = result.error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('.') : fieldFromIssue(issue),
    message: issue.message,
  }));
  throw new AuthError('validation_failed', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
}

function fieldFromIssue(issue: z.core.$ZodIssue): string {
  // Unknown keys are reported on the object itself; name them instead.
  if (issue.code === 'unrecognized_keys') return issue.keys.join(', ');
  return 'body';
}

const wellFormed = (s: string) => s.isWellFormed();
// C0 and C1 control characters and DEL have no place in an email address or an id.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export const emailField = z
  .string({ error: 'must be a string' })
  .max(320, 'must be at most 320 characters')
  .refine(wellFormed, 'must be valid Unicode')
  .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters')
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.email('must be a valid email address'));

/** A new password: the policy applies (length in code points after normalisation). */
export const newPasswordField = z
  .string({ error: 'must be a string' })
  .refine(wellFormed, 'must be valid Unicode')
  // A NUL or an escape sequence is a mistake or an attack (C code truncates at NUL), never a passphrase.
  .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters')
  .refine((s) => passwordLength(s) >= PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
  .refine((s) => passwordLength(s) <= PASSWORD_MAX_LENGTH, `must be at most ${PASSWORD_MAX_LENGTH} characters`);

/** A password being checked: no policy hints, only a bound on the work we accept. */
export const givenPasswordField = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(PASSWORD_MAX_LENGTH * 4, 'is too long')
  .refine(wellFormed, 'must be valid Unicode')
  .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters');

export const refreshTokenField = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(512, 'is too long')
  // Ours are base64url; anything outside printable ASCII is junk, named as such.
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII');

export const tokenDelivery = z.enum(['body', 'cookie'], { error: 'must be "body" or "cookie"' }).default('body');

export const registerBody = z.strictObject({ email: emailField, password: newPasswordField });

export const loginBody = z.strictObject({
  email: emailField,
  password: givenPasswordField,
  remember: z.boolean({ error: 'must be a boolean' }).default(false),
  token_delivery: tokenDelivery,
});

export const refreshBody = z.strictObject({ refresh_token: refreshTokenField });

export const logoutBody = z.strictObject({ refresh_token: refreshTokenField.optional() });

export const passwordChangeBody = z.strictObject({
  current_password: givenPasswordField,
  new_password: newPasswordField,
  token_delivery: tokenDelivery,
});

export const sessionIdParam = z.strictObject({ id: z.uuid('must be a session id (UUID)') });
