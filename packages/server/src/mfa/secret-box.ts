// TOTP secrets at rest: AES-256-GCM under MFA_ENCRYPTION_KEY, with the user id as
// associated data, so a database dump alone yields no usable secret and a ciphertext moved
// to another user's row does not open. The embedded default keeps the key in a file next
// to the signing keys, generated once under the same lock the signing key uses, so replicas
// starting together on an empty shared folder end up with one key, not one each.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { withDirLock } from '../keys/key-files.ts';

/** The key file of the embedded default, in KEYS_DIR. */
export const MFA_KEY_FILE = 'mfa-encryption.key';
const VERSION = 'v1';

/** Decodes a 256-bit key written as 64 hex digits, base64 or base64url; undefined otherwise. */
export function decodeMfaKey(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const key = Buffer.from(value.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
    return key.length === 32 ? key : undefined;
  }
  return undefined;
}

/** MFA_ENCRYPTION_KEY in the config schema: optional, 256 bits. */
export const mfaKeySchema = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined) return undefined;
    const key = decodeMfaKey(v);
    if (!key) {
      ctx.addIssue({ code: 'custom', message: 'must be 32 bytes, as 64 hex digits or base64 (openssl rand -base64 32)' });
      return z.NEVER;
    }
    return key;
  });

export class SecretBox {
  /** Names the key in every ciphertext, so a wrong key fails with a clear message, not garbage. */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the MFA encryption key must be 32 bytes');
    this.keyId = crypto.createHash('sha256').update(key).digest('base64url').slice(0, 8);
  }

  seal(userId: string, plaintext: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(userId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, this.keyId, iv.toString('base64url'), body.toString('base64url')].join('.');
  }

  open(userId: string, sealed: string): string {
    const [version, keyId, iv, body] = sealed.split('.');
    if (version !== VERSION || !iv || !body) throw new Error('unreadable sealed TOTP secret');
    if (keyId !== this.keyId) {
      throw new Error(`a TOTP secret is sealed under another MFA encryption key (${keyId}); this replica has ${this.keyId}`);
    }
    const data = Buffer.from(body, 'base64url');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(userId));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  }
}

/**
 * The key from MFA_ENCRYPTION_KEY, or else from `<keysDir>/mfa-encryption.key`, generated
 * on first use. Returns whether it was generated, for the log.
 */
export async function openSecretBox(config: { mfaEncryptionKey: Buffer | undefined; keysDir: string }): Promise<{ box: SecretBox; generated: boolean }> {
  if (config.mfaEncryptionKey) return { box: new SecretBox(config.mfaEncryptionKey), generated: false };
  const file = path.join(config.keysDir, MFA_KEY_FILE);
  const existing = await readKeyFile(file);
  if (existing) return { box: new SecretBox(existing), generated: false };
  return withDirLock(config.keysDir, async () => {
    // Another replica may have written it while we waited for the lock.
    const written = await readKeyFile(file);
    if (written) return { box: new SecretBox(written), generated: false };
    const key = crypto.randomBytes(32);
    const tmp = path.join(config.keysDir, `.${MFA_KEY_FILE}.${process.pid}.${crypto.randomUUID()}.tmp`);
    await fs.writeFile(tmp, `${key.toString('base64url')}\n`, { mode: 0o600 });
    await fs.rename(tmp, file);
    return { box: new SecretBox(key), generated: true };
  });
}

async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const key = decodeMfaKey(text);
  if (!key) throw new Error(`${file} does not hold a 256-bit key (base64url)`);
  return key;
}
