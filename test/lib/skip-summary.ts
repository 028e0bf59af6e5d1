// Vitest reporter: after the run, one summary of the suites skipped for something this machine
// lacks (recorded by requirements.ts skipUnless), with the remedy for each reason.
import fs from 'node:fs';
import path from 'node:path';
import type { Reporter } from 'vitest/node';
import { SKIP_DIR_VAR, type SkipRecord } from './requirements.ts';

function readRecords(dir: string): SkipRecord[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as SkipRecord);
}

/** "7 suites skipped: nginx not installed — apt-get install nginx; …" and one line per suite. */
export function formatSkipSummary(records: SkipRecord[]): string {
  if (records.length === 0) return '';
  const byReason = new Map<string, SkipRecord[]>();
  for (const r of records) {
    const key = `${r.reason} — ${r.remedy}`;
    byReason.set(key, [...(byReason.get(key) ?? []), r]);
  }
  const head = `${records.length} suite${records.length === 1 ? '' : 's'} skipped: ${[...byReason.keys()].join('; ')}`;
  const lines = [...byReason.entries()].flatMap(([why, rs]) => [`  ${why}:`, ...rs.map((r) => `    ${r.file} > ${r.suite}`)]);
  return [head, ...lines, '  (with CI set these suites fail instead of skipping)'].join('\n');
}

export default class SkipSummaryReporter implements Reporter {
  private dir = process.env[SKIP_DIR_VAR];

  onTestRunStart(): void {
    // Watch mode re-runs: only this run's skips count.
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  onTestRunEnd(): void {
    if (!this.dir) return;
    const summary = formatSkipSummary(readRecords(this.dir));
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (summary) process.stdout.write(`\n${summary}\n`);
  }
}
