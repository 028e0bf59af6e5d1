// The embedded database's folder holds e-mail addresses and password hashes (in the tables
// and in pg_wal), and by default the .eml files with reset links: no other local user may
// read or change it. The folder is created 0700 and the process umask made 077, which covers
// what Node writes (lock file, mail). PGlite's Emscripten layer sets its files' modes itself
// (chmod, with its own umask of 022), so db/pglite.ts tightens them after opening and after
// closing; the 0700 folder keeps them out of reach in between. A folder written before (or
// by hand) is repaired at start.
import fs from 'node:fs';
import path from 'node:path';

/** Files and folders created from now on by this process are owner-only (0600 / 0700). */
export function ownerOnlyUmask(): void {
  process.umask(process.umask() | 0o077);
}

/**
 * Removes every group and other permission under `dir` (itself included): folders become
 * 0700, files 0600 at most. Symbolic links are left alone (chmod would follow them out of the
 * folder). Returns how many entries were changed; a missing `dir` changes nothing.
 */
export function restrictToOwner(dir: string): number {
  let fixed = 0;
  const visit = (p: string) => {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (stat.isSymbolicLink()) return;
    if ((stat.mode & 0o077) !== 0) {
      fs.chmodSync(p, stat.mode & 0o700);
      fixed += 1;
    }
    if (stat.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  visit(dir);
  return fixed;
}
