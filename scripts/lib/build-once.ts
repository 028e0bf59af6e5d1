// Vitest global setup: compile the packages before any test starts a process from dist/.
// `tsc -b` is incremental, so this costs about a second when nothing changed.
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from './node-script.ts';

export default function buildPackages(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'inherit' });
}
