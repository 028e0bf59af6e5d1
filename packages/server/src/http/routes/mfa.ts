// Second factor: the account's status, TOTP enrolment and removal, the second step of a login
// and step-up, with a TOTP code, a recovery code or a passkey.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { LoginFactor, MfaFlows } from '../../mfa/mfa-flows.ts';
import type { SecondFactor } from '../../mfa/mfa-service.ts';
import { normalizeRecoveryCode } from '../../mfa/codes.ts';
import { authenticate } from '../authenticate.ts';
import { claimsOf, requestContext } from '../context.ts';
import type { RouteDeps } from '../services.ts';
import { noStore, sendTokens } from '../token-response.ts';
import { givenPasswordField, parseWith } from '../validation.ts';
import { authenticationCredential } from '../webauthn-validation.ts';

const totpCode = z
  .string({ error: 'must be a string' })
  .max(32, 'is too long')
  .transform((s) => s.replace(/\s/g, ''))
  .pipe(z.string().regex(/^\d{6}$/, 'must be the 6-digit code of the authenticator app'));

const recoveryCode = z
  .string({ error: 'must be a string' })
  .max(64, 'is too long')
  .transform(normalizeRecoveryCode)
  .pipe(z.string().regex(/^[a-z2-7]{16}$/, 'must be a recovery code (xxxx-xxxx-xxxx-xxxx)'));

/** Exactly one of `code` and `recovery_code`. */
const oneFactor = <T extends { code?: string | undefined; recovery_code?: string | undefined }>(body: T, ctx: z.RefinementCtx) => {
  if ((body.code === undefined) === (body.recovery_code === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['code'], message: 'send either code or recovery_code' });
  }
};

/** Exactly one of `code`, `recovery_code` and `credential` (a passkey's assertion). */
const oneLoginFactor = <T extends { code?: string | undefined; recovery_code?: string | undefined; credential?: unknown }>(body: T, ctx: z.RefinementCtx) => {
  const given = [body.code, body.recovery_code, body.credential].filter((f) => f !== undefined).length;
  if (given !== 1) ctx.addIssue({ code: 'custom', path: ['code'], message: 'send one of code, recovery_code or credential' });
};

const loginFactorOf = (body: { code?: string | undefined; recovery_code?: string | undefined; credential?: z.output<typeof authenticationCredential> | undefined }): LoginFactor =>
  body.credential !== undefined ? { credential: body.credential } : factorOf(body);

const factorOf = (body: { code?: string | undefined; recovery_code?: string | undefined }): SecondFactor =>
  body.code !== undefined ? { code: body.code } : { recoveryCode: body.recovery_code! };

const enrollBody = z.strictObject({ password: givenPasswordField });
const confirmBody = z.strictObject({ code: totpCode });
const disableBody = z.strictObject({ password: givenPasswordField, code: totpCode.optional(), recovery_code: recoveryCode.optional() }).superRefine(oneFactor);
const verifyBody = z
  .strictObject({
    mfa_token: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(256, 'is too long'),
    code: totpCode.optional(),
    recovery_code: recoveryCode.optional(),
    credential: authenticationCredential.optional(),
  })
  .superRefine(oneLoginFactor);
const stepUpBody = z
  .strictObject({ code: totpCode.optional(), recovery_code: recoveryCode.optional(), credential: authenticationCredential.optional() })
  .superRefine(oneLoginFactor);
const webauthnOptionsBody = z.strictObject({ mfa_token: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(256, 'is too long').optional() }).optional();

export async function mfaRoutes(app: FastifyInstance, deps: RouteDeps & { mfaFlows: MfaFlows }): Promise<void> {
  const { mfaFlows, config } = deps;
  const requireBearer = authenticate(deps.verifyBearer);

  // What an account page needs to offer "set up" or "turn off", and warn when recovery codes run low.
  app.get('/auth/mfa', { preHandler: requireBearer }, async (request, reply) => {
    const status = await mfaFlows.status(claimsOf(request));
    return noStore(reply).send({ totp: { active: status.active, recovery_codes_left: status.recoveryCodesLeft } });
  });

  app.post('/auth/mfa/totp/enroll', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(enrollBody, request.body);
    const enrollment = await mfaFlows.enroll(claimsOf(request), body.password, requestContext(request));
    return noStore(reply).send({ secret: enrollment.secret, otpauth_uri: enrollment.otpauthUri });
  });

  app.post('/auth/mfa/totp/confirm', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(confirmBody, request.body);
    const codes = await mfaFlows.confirm(claimsOf(request), body.code, requestContext(request));
    return noStore(reply).send({ recovery_codes: codes });
  });

  app.delete('/auth/mfa/totp', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(disableBody, request.body);
    await mfaFlows.disable(claimsOf(request), body.password, factorOf(body), requestContext(request));
    return reply.code(204).send();
  });

  // A passkey as the second factor: of a login (mfa_token in the body) or of the bearer's session (step-up).
  app.post('/auth/mfa/webauthn/options', async (request, reply) => {
    const body = parseWith(webauthnOptionsBody, request.body);
    if (body?.mfa_token === undefined) await requireBearer(request);
    const input = body?.mfa_token !== undefined ? { mfaToken: body.mfa_token } : { claims: claimsOf(request) };
    return noStore(reply).send(await mfaFlows.webauthnOptions(input, requestContext(request)));
  });

  app.post('/auth/mfa/verify', async (request, reply) => {
    const body = parseWith(verifyBody, request.body);
    const { pair, delivery } = await mfaFlows.verifyLogin(body.mfa_token, loginFactorOf(body), requestContext(request));
    return sendTokens(reply, config, pair, delivery);
  });

  app.post('/auth/mfa/step-up', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(stepUpBody, request.body);
    const raised = await mfaFlows.stepUp(claimsOf(request), loginFactorOf(body), requestContext(request));
    // The session's refresh token is unchanged and now yields tokens at the raised level.
    return noStore(reply).send({
      access_token: raised.accessToken,
      token_type: 'Bearer',
      expires_in: raised.expiresIn,
      refresh_token_expires_in: raised.refreshExpiresIn,
    });
  });
}
