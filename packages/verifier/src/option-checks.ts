// The checks every option validator shares: a TypeError naming the bad option. A leaf, so
// options.ts and redis-options.ts can both use it without importing each other.

export function bad(name: string, expected: string): never {
  throw new TypeError(`createVerifier: option "${name}" must be ${expected}`);
}

export function nonNegative(value: unknown, name: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    bad(name, integer ? 'a non-negative integer' : 'a non-negative finite number');
  }
  return value;
}
