import fs from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { KeyStore } from '../../src/keys/key-store.ts';
import { captureLogger, tempDir } from '../helpers/app.ts';

const open = (dir: string, clock = new ManualClock()) => {
  const { logger, lines } = captureLogger();
  return KeyStore.open({ dir, modulusLength: 2048, clock, logger, retiredKeyGraceSeconds: 960 }).then((keys) => ({ keys, lines }));
};

describe('key store', () => {
  it('generates a key on first start, with mode 0600, and logs that it did', async () => {
    const dir = tempDir();
    const { keys, lines } = await open(dir);
    const { kid } = keys.signingKey();
    const pem = path.join(dir, `${kid}.private.pem`);
    expect(fs.statSync(pem).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(pem, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(lines.some((l) => l.includes('"event":"key.generated"'))).toBe(true);
    // The log says which key, never the key.
    expect(lines.join('\n')).not.toContain('PRIVATE KEY');
  });

  it('reuses the same key on the next start', async () => {
    const dir = tempDir();
    const first = await open(dir);
    const second = await open(dir);
    expect(second.keys.signingKey().kid).toBe(first.keys.signingKey().kid);
    expect(second.lines.some((l) => l.includes('key.generated'))).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.pem'))).toHaveLength(1);
  });

  it('uses the RFC 7638 thumbprint as kid and publishes public members only', async () => {
    const { keys } = await open(tempDir());
    const [jwk] = keys.jwks().body.keys;
    expect(Object.keys(jwk!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(Buffer.from(jwk!.n, 'base64url').length).toBe(256);
    expect(jwk!.kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', n: jwk!.n, e: jwk!.e }, 'sha256'));
  });

  it('generates exactly one key when several replicas start at once on an empty folder', async () => {
    const dir = tempDir();
    const stores = await Promise.all([open(dir), open(dir), open(dir)]);
    const kids = new Set(stores.map((s) => s.keys.signingKey().kid));
    expect(kids.size).toBe(1);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.pem'))).toHaveLength(1);
  });

  it('refuses a key file whose kid does not match its key', async () => {
    const dir = tempDir();
    const { keys } = await open(dir);
    const { kid } = keys.signingKey();
    const meta = JSON.parse(fs.readFileSync(path.join(dir, `${kid}.json`), 'utf8')) as Record<string, string>;
    fs.writeFileSync(path.join(dir, `${kid}.json`), JSON.stringify({ ...meta, kid: 'forged' }));
    fs.renameSync(path.join(dir, `${kid}.json`), path.join(dir, 'forged.json'));
    fs.renameSync(path.join(dir, `${kid}.private.pem`), path.join(dir, 'forged.private.pem'));
    await expect(open(dir)).rejects.toThrow(/thumbprint/);
  });
});
