// The result rows every bench returns, and their rendering as a Markdown / console table.

export interface Row {
  /** Which bench: verify, http, refresh, login, propagation, footprint. */
  area: string;
  measure: string;
  /** The figure, formatted with its unit. */
  figure: string;
  /** The same-run baseline it is compared with, formatted, or '' when none. */
  baseline: string;
  /** figure ÷ baseline as a display string ('' when not a ratio). */
  ratio: string;
  /** The target, in words ('' when the row is informative only). */
  target: string;
  /** Whether the target was met; undefined when there is no target. */
  met?: boolean;
}

const HEADERS = ['area', 'measure', 'figure', 'baseline (same run)', 'ratio', 'target', 'met?'] as const;

function cells(row: Row): string[] {
  const met = row.met === undefined ? '' : row.met ? 'met' : 'MISSED';
  return [row.area, row.measure, row.figure, row.baseline, row.ratio, row.target, met];
}

export function markdownTable(rows: readonly Row[]): string {
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`| ${HEADERS.join(' | ')} |`, `|${HEADERS.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${cells(row).map(escape).join(' | ')} |`);
  return lines.join('\n');
}

/** A plain fixed-width table for the terminal. */
export function consoleTable(rows: readonly Row[]): string {
  const all = [[...HEADERS] as string[], ...rows.map(cells)];
  const widths = HEADERS.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: string[]) => r.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join('  ').trimEnd();
  return [line(all[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

/** What each bench hands back to run.ts: its table rows and a Markdown section for RESULTS.md. */
export interface Section {
  rows: Row[];
  /** Markdown: method and per-round figures. */
  details: string;
  /** Markdown bullet(s): what bounds the figures of this run, written from its own numbers. */
  bounds: string;
}

export const met = (ok: boolean): { met: boolean } => ({ met: ok });
