// TOTP secrets at rest: sealed with MFA_ENCRYPTION_KEY or the key file generated next to
// the signing keys, exactly one key even when replicas start together.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFrom, ConfigError, loadConfig } from '../../src/config.ts';
import { decodeMfaKey, MFA_KEY_FILE, openSecretBox, SecretBox } from '../../src/mfa/secret-box.ts';
import { tempDir } from '../helpers/app.ts';

describe('SecretBox', () => {
  it('seals and opens, bound to the user: another user id or another key does not open it', () => {
    const box = new SecretBox(crypto.randomBytes(32));
    const sealed = box.seal('user-1', 'JBSWY3DPEHPK3PXP');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.seal('user-1', 'JBSWY3DPEHPK3PXP')).not.toBe(sealed); // a fresh IV every time
    expect(box.open('user-1', sealed)).toBe('JBSWY3DPEHPK3PXP');
    expect(() => box.open('user-2', sealed)).toThrow();
    expect(() => new SecretBox(crypto.randomBytes(32)).open('user-1', sealed)).toThrow(/another MFA encryption key/);
  });

  it('replicas starting together on an empty keys folder end up with one key', async () => {
    const dir = tempDir('tessera-keys-');
    const boxes = await Promise.all(Array.from({ length: 8 }, () => openSecretBox({ mfaEncryptionKey: undefined, keysDir: dir })));
    expect(new Set(boxes.map((b) => b.box.keyId)).size).toBe(1);
    expect(boxes.filter((b) => b.generated)).toHaveLength(1);
    const file = path.join(dir, MFA_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp') || n === '.lock')).toEqual([]);
    const again = await openSecretBox({ mfaEncryptionKey: undefined, keysDir: dir });
    expect(again).toMatchObject({ generated: false });
    expect(again.box.keyId).toBe(boxes[0]!.box.keyId);
  });

  it('MFA_ENCRYPTION_KEY wins over the file, in hex or base64; a bad one is named, never echoed', async () => {
    const key = crypto.randomBytes(32);
    for (const text of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) expect(decodeMfaKey(text)).toEqual(key);
    const dir = tempDir('tessera-keys-');
    const config = configFrom({ KEYS_DIR: dir, MFA_ENCRYPTION_KEY: key.toString('base64') });
    const { box, generated } = await openSecretBox(config);
    expect(generated).toBe(false);
    expect(box.keyId).toBe(new SecretBox(key).keyId);
    expect(fs.existsSync(path.join(dir, MFA_KEY_FILE))).toBe(false);

    const secret = 'c2hvcnQtYnV0LXNlY3JldA==';
    let error: unknown;
    try {
      loadConfig({ KEYS_DIR: dir, MFA_ENCRYPTION_KEY: secret, ADMIN_CLIENTS: 'no-colon-secret-value' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/MFA_ENCRYPTION_KEY: must be 32 bytes/);
    expect(message).toMatch(/ADMIN_CLIENTS: each entry must be client_id:secret/);
    expect(message).not.toContain(secret);
    expect(message).not.toContain('no-colon-secret-value');
  });
});
