// Who is asking: what a service needs to know about the request it serves (for audit lines,
// back-off by address, session metadata). A leaf: the HTTP layer builds it
// (`http/context.ts`) and every service takes it, so it imports nothing.
export interface RequestContext {
  userAgent: string | null;
  ip: string | null;
  requestId?: string;
}
