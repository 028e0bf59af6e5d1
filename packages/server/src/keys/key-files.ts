// Reading and writing the key files in keys/. Every replica reads the same folder, so
// writes are atomic (temp file + rename) and metadata is written last: a reader that sees
// `<kid>.json` can rely on `<kid>.private.pem` being complete.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface KeyMetadata {
  kid: string;
  alg: 'RS256';
  created_at: string;
  /** From then on this key signs new tokens (until a later key activates). */
  activates_at: string;
  /** Set when a newer key took over; the key stays published until its tokens expired. */
  retired_at?: string;
}

export interface KeyFile {
  meta: KeyMetadata;
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
}

export interface PublicJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

const META_SUFFIX = '.json';
const PRIVATE_SUFFIX = '.private.pem';

/** A `*.json` in keys/ that is not a usable key file, and why. */
export interface SkippedKeyFile {
  file: string;
  reason: string;
  /** A `<kid>.private.pem` sits next to it: a damaged key, not a stray file. */
  looksLikeKey: boolean;
}

/**
 * Every usable key in `dir`. A `*.json` that is not a valid key file (a stray file, bad
 * JSON, a missing or foreign private key, a kid that is not the key's thumbprint) is
 * skipped and reported to `onSkip`, never fatal: one bad file must not stop the good keys
 * from loading (or a rotation from reaching this replica).
 */
export async function readKeyFiles(dir: string, onSkip: (skipped: SkippedKeyFile) => void = () => {}): Promise<KeyFile[]> {
  const names = await fs.readdir(dir);
  const keys: KeyFile[] = [];
  for (const name of names.filter((n) => n.endsWith(META_SUFFIX) && !n.startsWith('.')).sort()) {
    const base = name.slice(0, -META_SUFFIX.length);
    try {
      keys.push(await readKeyFile(dir, name));
    } catch (err) {
      const looksLikeKey = names.includes(`${base}${PRIVATE_SUFFIX}`);
      onSkip({ file: name, reason: (err as Error).message, looksLikeKey });
    }
  }
  return keys;
}

async function readKeyFile(dir: string, name: string): Promise<KeyFile> {
  let meta: KeyMetadata;
  try {
    meta = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as KeyMetadata;
  } catch {
    throw new Error('not valid JSON');
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.kid !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(meta.kid)) {
    throw new Error('no valid "kid"');
  }
  if (meta.alg !== 'RS256') throw new Error('"alg" is not RS256');
  if (Number.isNaN(Date.parse(meta.activates_at)) || (meta.retired_at !== undefined && Number.isNaN(Date.parse(meta.retired_at)))) {
    throw new Error('"activates_at" or "retired_at" is not a date');
  }
  let pem: string;
  try {
    pem = await fs.readFile(path.join(dir, `${meta.kid}${PRIVATE_SUFFIX}`), 'utf8');
  } catch {
    throw new Error(`no ${meta.kid}${PRIVATE_SUFFIX} next to it`);
  }
  const privateKey = crypto.createPrivateKey(pem);
  const publicKey = crypto.createPublicKey(privateKey);
  const kid = await thumbprint(publicKey);
  if (kid !== meta.kid) throw new Error(`kid does not match the key's RFC 7638 thumbprint`);
  return { meta, privateKey, publicKey };
}

export async function thumbprint(publicKey: crypto.KeyObject): Promise<string> {
  const { n, e } = publicKey.export({ format: 'jwk' });
  // RFC 7638 §3.2: the required members in lexicographic order, no whitespace, SHA-256,
  // base64url. Written here rather than taken from jose, which is then loaded only with
  // sign-in providers (it would otherwise cost every replica ~8 MB resident).
  return crypto.createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url');
}

export function publicJwk(file: KeyFile): PublicJwk {
  const { n, e } = file.publicKey.export({ format: 'jwk' });
  return { kty: 'RSA', n: n as string, e: e as string, kid: file.meta.kid, alg: 'RS256', use: 'sig' };
}

/** Generates a key pair and writes it; returns the new key's metadata. */
export async function generateKeyFile(
  dir: string,
  options: { modulusLength: number; now: number; activatesAt?: number },
): Promise<KeyFile> {
  const { privateKey, publicKey } = await generateRsa(options.modulusLength);
  const kid = await thumbprint(publicKey);
  const meta: KeyMetadata = {
    kid,
    alg: 'RS256',
    created_at: new Date(options.now).toISOString(),
    activates_at: new Date(options.activatesAt ?? options.now).toISOString(),
  };
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(path.join(dir, `${kid}${PRIVATE_SUFFIX}`), privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  await writeMetadata(dir, meta);
  return { meta, privateKey, publicKey };
}

export async function writeMetadata(dir: string, meta: KeyMetadata): Promise<void> {
  await writeAtomic(path.join(dir, `${meta.kid}${META_SUFFIX}`), `${JSON.stringify(meta, null, 2)}\n`);
}

export async function deleteKeyFiles(dir: string, kid: string): Promise<void> {
  await fs.rm(path.join(dir, `${kid}${META_SUFFIX}`), { force: true });
  await fs.rm(path.join(dir, `${kid}${PRIVATE_SUFFIX}`), { force: true });
}

function generateRsa(modulusLength: number): Promise<{ privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }> {
  return new Promise((resolve, reject) => {
    crypto.generateKeyPair('rsa', { modulusLength, publicExponent: 0x10001 }, (err, publicKey, privateKey) =>
      err ? reject(err) : resolve({ publicKey, privateKey }),
    );
  });
}

async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${path.dirname(file)}/.${path.basename(file)}.${process.pid}.${crypto.randomUUID()}.tmp`;
  // 0600: the private key must be readable by the service's user only.
  await fs.writeFile(tmp, content, { mode: 0o600 });
  await fs.rename(tmp, file);
}

/**
 * Exclusive lock on the folder so two replicas starting at once on an empty shared folder
 * do not each generate a key. Stale after `staleMs` (a crashed holder).
 */
export async function withDirLock<T>(dir: string, work: () => Promise<T>, staleMs = 30_000): Promise<T> {
  const lock = path.join(dir, '.lock');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + staleMs;
  for (;;) {
    try {
      const handle = await fs.open(lock, 'wx');
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const stat = await fs.stat(lock).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > staleMs) await fs.rm(lock, { force: true });
      if (Date.now() > deadline) await fs.rm(lock, { force: true });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await work();
  } finally {
    await fs.rm(lock, { force: true });
  }
}
