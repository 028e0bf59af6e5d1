import { z } from 'zod';

/** A role name: short, printable, no spaces (it travels in tokens and in audit lines). */
const role = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'must be 1-64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit');

/** A user's roles: at most 32, duplicates dropped. */
export const rolesField = z
  .array(role, { error: 'must be an array of strings' })
  .max(32, 'must hold at most 32 roles')
  .transform((roles) => [...new Set(roles)]);
