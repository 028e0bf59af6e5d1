// Request bodies of the account-recovery routes (the shared fields live in validation.ts).
import { z } from 'zod';
import { emailField, givenPasswordField, newPasswordField, tokenDelivery } from './validation.ts';

/** A secret from a mailed link: ours are `mt_` + 43 base64url characters; anything else is junk, named as such. */
export const mailTokenField = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(512, 'is too long')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII');

export const forgotPasswordBody = z.strictObject({ email: emailField });

export const resetPasswordBody = z.strictObject({
  token: mailTokenField,
  new_password: newPasswordField,
  token_delivery: tokenDelivery,
  remember: z.boolean({ error: 'must be a boolean' }).default(false),
});

export const mailTokenBody = z.strictObject({ token: mailTokenField });

// password: optional only for an account without one (created by a provider), which proves a recent sign-in instead.
export const emailChangeBody = z.strictObject({ new_email: emailField, password: givenPasswordField.optional() });

export const accountDeleteBody = z.strictObject({ password: givenPasswordField.optional() });
