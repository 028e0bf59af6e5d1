import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { generateKeyFile } from '../../src/keys/key-files.ts';
import { KeyStore } from '../../src/keys/key-store.ts';
import { captureLogger, createTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, signUp } from '../helpers/flows.ts';
import { accessHeader, attackerKeys, forgeToken } from '../helpers/forge.ts';

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

describe('key store with a stray or unreadable keys folder', () => {
  // Signed by a key of no one's: its kid is unknown to the server, so every request with it
  // asks the key store to re-read the folder (within the cooldown).
  const unknownKidToken = (t: TestApp, n: number) =>
    forgeToken({
      header: accessHeader(`unknown-kid-${n}`),
      payload: { iss: t.config.issuer, aud: t.config.audience, sub: 'u', sid: 's', jti: `j${n}`, client_id: 'c', iat: Math.floor(t.clock.now() / 1000), exp: Math.floor(t.clock.now() / 1000) + 600 },
      key: attackerKeys().privateKey,
    });

  it('skips a stray *.json with one warning, answers 401 for an unknown kid, and still loads new keys', async () => {
    const t = await createTestApp();
    try {
      fs.writeFileSync(path.join(t.config.keysDir, 'notes.json'), '{ not json');
      for (let i = 0; i < 5; i++) {
        t.clock.advance(10_000); // past the reload cooldown every time
        const res = await t.fastify.inject({ method: 'GET', url: '/auth/me', headers: bearer(unknownKidToken(t, i)) });
        expect((expectProblem(res, 401, 'invalid_token') as unknown as { reason: string }).reason).toBe('unknown_kid');
      }
      const warnings = t.logs().filter((l) => l.event === 'key.file_skipped');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ file: 'notes.json', level: 40 });
      // A rotation written meanwhile still reaches this replica.
      const added = await generateKeyFile(t.config.keysDir, { modulusLength: 2048, now: t.clock.now() });
      await t.keys.reload();
      expect(t.keys.publicKey(added.meta.kid)).toBeDefined();
      expect(t.logs().filter((l) => l.event === 'key.file_skipped')).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it('keeps the cooldown when re-reading fails: one attempt per cooldown, 401 every time', async () => {
    const t = await createTestApp();
    try {
      const { kid } = t.keys.signingKey();
      fs.renameSync(t.config.keysDir, `${t.config.keysDir}.gone`);
      const readdir = vi.spyOn(fsPromises, 'readdir');
      t.clock.advance(10_000);
      for (let i = 0; i < 20; i++) {
        const res = await t.fastify.inject({ method: 'GET', url: '/auth/me', headers: bearer(unknownKidToken(t, i)) });
        expectProblem(res, 401, 'invalid_token');
      }
      expect(readdir.mock.calls.filter(([dir]) => String(dir) === t.config.keysDir)).toHaveLength(1);
      expect(t.logs().filter((l) => l.event === 'key.reload_failed')).toHaveLength(1);
      readdir.mockRestore();
      // The keys known before keep working.
      expect(t.keys.publicKey(kid)).toBeDefined();
      const { tokens } = await signUp(t.fastify);
      expect((await t.fastify.inject({ method: 'GET', url: '/auth/me', headers: bearer(tokens.access_token) })).statusCode).toBe(200);
    } finally {
      fs.renameSync(`${t.config.keysDir}.gone`, t.config.keysDir);
      await t.close();
    }
  });

  it('refuses to start over a damaged key file instead of generating a new key', async () => {
    const dir = tempDir();
    const { keys } = await open(dir);
    const { kid } = keys.signingKey();
    fs.writeFileSync(path.join(dir, `${kid}.private.pem`), 'not a pem');
    await expect(open(dir)).rejects.toThrow(/no usable signing key/);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.pem'))).toHaveLength(1);
  });
});
