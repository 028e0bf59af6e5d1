// Checks loadConfig makes across variables or outside the environment (the file system), kept
// apart from the schema and the Config shape. Nothing here imports config.ts (no cycle): each
// check takes the values it needs and pushes its problems to the shared list.
import fs from 'node:fs';
import path from 'node:path';
import { hostMatchesRpId } from './config-fields.ts';

/**
 * The relying party, defaulting to APP_URL (the app users sign in to). Every web origin must
 * be the RP ID's host or a subdomain of it, or no browser would ever run the ceremony.
 */
export function webauthnRelyingParty(
  e: { APP_URL: string; WEBAUTHN_RP_ID?: string | undefined; WEBAUTHN_RP_NAME: string; WEBAUTHN_ORIGINS?: string[] | undefined },
  problems: string[],
) {
  const app = new URL(e.APP_URL);
  const rpId = e.WEBAUTHN_RP_ID ?? app.hostname;
  const origins = e.WEBAUTHN_ORIGINS ?? [app.origin];
  const foreign = origins.filter((o) => !o.startsWith('android:') && !hostMatchesRpId(new URL(o).hostname, rpId));
  if (foreign.length > 0) {
    problems.push(`WEBAUTHN_ORIGINS=${JSON.stringify(foreign.join(','))}: not ${rpId} or a subdomain of it (WEBAUTHN_RP_ID)`);
    return undefined;
  }
  return {
    /** The RP ID: a domain, the origins' host or a parent of it. */
    rpId,
    /** The name authenticators show. */
    rpName: e.WEBAUTHN_RP_NAME,
    /** The origins ceremonies may come from (web origins and android:apk-key-hash:…). */
    origins,
  };
}

/** A URL's password (SMTP_URL, DATABASE_URL…) must not reach stderr with a bad value. */
export function withoutCredentials(value: string): string {
  return value.replace(/\/\/[^/@\s]*@/, '//[redacted]@');
}

/** The keys folder may be missing (it is created on first start) but must be usable if present. */
export function checkKeysDir(dir: string): string | undefined {
  const resolved = path.resolve(dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return checkWritableParent(resolved);
    }
    return `cannot be read (${(err as NodeJS.ErrnoException).code})`;
  }
  if (!stat.isDirectory()) return 'is not a directory';
  try {
    fs.accessSync(resolved, fs.constants.R_OK | fs.constants.X_OK);
    fs.readdirSync(resolved);
  } catch (err) {
    return `cannot be read (${(err as NodeJS.ErrnoException).code})`;
  }
  return undefined;
}

function checkWritableParent(dir: string): string | undefined {
  const parent = path.dirname(dir);
  try {
    fs.accessSync(parent, fs.constants.W_OK);
    return undefined;
  } catch {
    return 'does not exist and cannot be created';
  }
}
