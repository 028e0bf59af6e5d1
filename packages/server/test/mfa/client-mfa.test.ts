// @tessera/client against a real Tessera: its second-factor calls match the server's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraClient, TesseraError } from '@tessera/client';
import { ManualClock } from '../../src/clock.ts';
import { decodeJwt, login, PASSWORD, register } from '../helpers/flows.ts';
import { codeFor, enableTotp } from '../helpers/totp.ts';
import { listeningTessera, type ListeningTessera } from '../verifier/kit.ts';

describe('@tessera/client with a second factor', () => {
  let tessera: ListeningTessera;
  beforeAll(async () => {
    tessera = await listeningTessera({ clock: new ManualClock(Date.now() - 3_600_000) });
  });
  afterAll(() => tessera?.t.close());

  it('login → mfa_required → verifyMfa signs in with amr pwd+otp; stepUp raises a password-only session', async () => {
    const t = tessera.t;
    // Enrolled a minute ago, so the current step's code is unused.
    t.clock.set(Date.now() - 60_000);
    const user = await register(t.fastify);
    const first = await login(t.fastify, user.email);
    const { secret, recoveryCodes } = await enableTotp(t.fastify, first.access_token, t.clock.now());
    t.clock.set(Date.now());

    const auth = new TesseraClient({ baseUrl: tessera.issuer, delivery: 'body', tabs: false });
    try {
      const result = await auth.login({ email: user.email, password: PASSWORD, remember: true });
      expect(result).toMatchObject({ status: 'mfa_required', methods: ['totp', 'recovery_code'], expiresIn: 300 });
      if (result.status !== 'mfa_required') throw new Error('expected a challenge');
      expect(auth.signedIn).toBe(false);
      const wrong = await auth.verifyMfa({ mfaToken: result.mfaToken, code: codeFor(secret, Date.now() - 600_000) }).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(TesseraError);
      expect(wrong).toMatchObject({ code: 'invalid_mfa_code', status: 401 });
      await auth.verifyMfa({ mfaToken: result.mfaToken, recoveryCode: recoveryCodes[0]! });
      expect(auth.signedIn).toBe(true);
      expect(decodeJwt((await auth.getAccessToken())!).payload.amr).toEqual(['pwd', 'otp']);
    } finally {
      auth.close();
    }

    // A session from before the factor existed: step-up raises it.
    const other = new TesseraClient({ baseUrl: tessera.issuer, delivery: 'body', tabs: false });
    try {
      const plain = await register(t.fastify);
      expect(await other.login({ email: plain.email, password: PASSWORD })).toEqual({ status: 'signed_in' });
      const token = (await other.getAccessToken())!;
      expect(decodeJwt(token).payload.amr).toEqual(['pwd']);
      t.clock.set(Date.now());
      // Confirmed with the previous step's code (within the drift), so the current one is fresh.
      const enrolled = await enableTotp(t.fastify, token, t.clock.now() - 30_000);
      await other.stepUp({ code: codeFor(enrolled.secret, t.clock.now()) });
      const raised = decodeJwt((await other.getAccessToken())!).payload;
      expect(raised.amr).toEqual(['pwd', 'otp']);
      expect(raised.sid).toBe(decodeJwt(token).payload.sid);
    } finally {
      other.close();
    }
  });
});
