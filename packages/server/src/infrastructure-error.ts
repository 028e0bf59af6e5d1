// A service Tessera depends on failed: the database or Redis. Raised by the adapters that talk
// to them (db/postgres.ts, revocation/redis-denylist.ts, revocation/redis-log.ts), so callers
// tell one failure from another by type and component, never by reading driver messages.
// The driver's error is the `cause`: logged, never shown to a client.

export type InfrastructureComponent = 'sql' | 'redis';

export class InfrastructureError extends Error {
  constructor(
    readonly component: InfrastructureComponent,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InfrastructureError';
  }
}

/** Whether `err` is a failure of `component` (of any component when omitted). */
export function isInfrastructureError(err: unknown, component?: InfrastructureComponent): err is InfrastructureError {
  return err instanceof InfrastructureError && (component === undefined || err.component === component);
}
