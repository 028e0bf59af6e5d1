// The audit trail: security-relevant events, logged as structured pino lines with stable
// names, so that alerts, dashboards and `grep '"event":"session.reuse_detected"'` keep
// working across releases. Renaming an event is a breaking change for operators.
//
// Every line of a user-facing event carries the same four fields, null when not applicable:
//   user_id     the user acted on (null when unknown, e.g. a login with an unknown email)
//   session_id  the session (refresh-token family) acted on, or the one acting
//   ip          the client address as Fastify sees it (X-Forwarded-For only with TRUST_PROXY)
//   user_agent  the client's User-Agent, truncated
// Never a token, a password or a hash: ids only.

export const AUDIT_EVENTS = [
  'user.registered',
  'login.succeeded',
  'login.failed',
  'session.refreshed',
  'session.reuse_detected',
  'session.revoked',
  'session.revoked_all',
  'password.changed',
  'password.change_failed',
  'password.rehashed',
  'token.revoked',
  // Account recovery by email. Mail events are logged by the replica that drains the
  // outbox, with the ip, user_agent and reqId of the request that caused the mail.
  'password.reset_requested',
  'password.reset',
  'email.verification_sent',
  'email.verified',
  'email.change_requested',
  'email.changed',
  'account.deleted',
  'mail.failed',
  // Second factor (TOTP, recovery codes) and step-up.
  'login.mfa_required',
  'mfa.enrollment_started',
  'mfa.enabled',
  'mfa.disabled',
  'mfa.failed',
  'mfa.recovery_code_used',
  'mfa.step_up',
  // Social sign-in: every line carries `provider`; refusals carry `reason` (an error code).
  'provider.login',
  'provider.refused',
  'identity.linked',
  'identity.unlinked',
  // Passkeys (WebAuthn). `passkey.refused` carries `ceremony` and `reason` (wrong_origin,
  // bad_signature, uv_missing…); `passkey.counter_regressed` is a cloned authenticator.
  'passkey.registered',
  'passkey.renamed',
  'passkey.removed',
  'passkey.login',
  'passkey.refused',
  'passkey.counter_regressed',
  // Admin API and operator commands: every action carries `admin_client` (the client id,
  // or `tessera-cli`). Failed client authentication carries `realm` and `client_id` instead.
  'client.auth_failed',
  'admin.users_listed',
  'admin.user_read',
  'admin.user_created',
  'admin.user_disabled',
  'admin.user_enabled',
  'admin.user_deleted',
  'admin.roles_set',
  'admin.mfa_reset',
  'admin.sessions_ended',
  'admin.password_set',
  // Key events concern no user or client: they carry `kid` instead.
  'key.generated',
  'key.activated',
  'key.rotated',
] as const;

export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** Who and what an event is about; extra fields (reason, count, jti...) ride along. */
export type AuditFields = { user_id: string | null; session_id?: string | null } & Record<string, unknown>;

export interface AuditContext {
  userAgent: string | null;
  ip: string | null;
  /** Fastify's id of the request, so an audit line joins its request log lines (`reqId`). */
  requestId?: string;
}

/** The log object of one audit line. The standard fields come last so extras cannot overwrite them. */
export function auditRecord(event: AuditEvent, fields: AuditFields, ctx: AuditContext): Record<string, unknown> {
  const { user_id, session_id, ...extra } = fields;
  return {
    ...extra,
    event,
    user_id,
    session_id: session_id ?? null,
    ip: ctx.ip,
    user_agent: ctx.userAgent,
    ...(ctx.requestId ? { reqId: ctx.requestId } : {}),
  };
}
