// Reading SQL rows: pg and PGlite hand timestamps back as Date or string depending on the
// driver, so the stores convert through these.
export type Row = Record<string, unknown>;

export const date = (v: unknown): Date => new Date(v as string | Date);
export const nullableDate = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
