// Account recovery and the account's life cycle: password reset by email, email
// verification and change, account deletion. Thin: parse, one service call, reply.
import type { FastifyInstance } from 'fastify';
import type { AccountService } from '../../account/account-service.ts';
import type { EmailService } from '../../account/email-service.ts';
import { accountDeleteBody, emailChangeBody, forgotPasswordBody, mailTokenBody, resetPasswordBody } from '../account-validation.ts';
import { authenticate } from '../authenticate.ts';
import { claimsOf, requestContext } from '../context.ts';
import { clearRefreshCookie } from '../refresh-cookie.ts';
import type { RouteDeps } from '../services.ts';
import { noStore, sendLoginResult } from '../token-response.ts';
import { parseWith } from '../validation.ts';

/** The one answer of `forgot` and of every mail request: it says nothing about the account. */
const ACCEPTED = { status: 'accepted' } as const;

export async function accountRoutes(app: FastifyInstance, deps: RouteDeps & { account: AccountService; email: EmailService }): Promise<void> {
  const { account, email, config } = deps;
  const requireBearer = authenticate(deps.verifyBearer);

  app.post('/auth/password/forgot', async (request, reply) => {
    const body = parseWith(forgotPasswordBody, request.body);
    await account.requestPasswordReset(body.email, requestContext(request));
    return reply.code(202).send(ACCEPTED);
  });

  app.post('/auth/password/reset', async (request, reply) => {
    const body = parseWith(resetPasswordBody, request.body);
    const input = { token: body.token, newPassword: body.new_password, remember: body.remember, tokenDelivery: body.token_delivery };
    // An account with a second factor gets its challenge, not tokens: a mailbox is not a second factor.
    return sendLoginResult(reply, config, await account.resetPassword(input, requestContext(request)), body.token_delivery);
  });

  app.post('/auth/email/verify', async (request, reply) => {
    const body = parseWith(mailTokenBody, request.body);
    return noStore(reply).send(await email.verify(body.token, requestContext(request)));
  });

  app.post('/auth/email/verify/resend', { preHandler: requireBearer }, async (request, reply) => {
    await email.resendVerification(claimsOf(request), requestContext(request));
    return reply.code(202).send(ACCEPTED);
  });

  app.post('/auth/email/change', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(emailChangeBody, request.body);
    await email.requestChange(claimsOf(request), { newEmail: body.new_email, password: body.password }, requestContext(request));
    return reply.code(202).send(ACCEPTED);
  });

  app.post('/auth/email/change/confirm', async (request, reply) => {
    const body = parseWith(mailTokenBody, request.body);
    return noStore(reply).send(await email.confirmChange(body.token, requestContext(request)));
  });

  app.delete('/auth/account', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(accountDeleteBody, request.body);
    await account.deleteOwnAccount(claimsOf(request), body.password, requestContext(request));
    clearRefreshCookie(reply, config);
    return reply.code(204).send();
  });
}
