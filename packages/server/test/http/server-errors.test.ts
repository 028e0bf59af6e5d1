// Every 5xx is logged with its internal cause (message, codes, stack; credentials cut out),
// and the cause never reaches the response body. A 4xx logs nothing here.
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError } from '../../src/errors.ts';
import { registerProblemHandlers } from '../../src/http/problem.ts';
import { InfrastructureError } from '../../src/infrastructure-error.ts';
import { captureLogger } from '../helpers/app.ts';

const SECRET_URL = 'redis://:hunter2-secret@10.0.0.9:6379';

describe('5xx answers and their cause', () => {
  const { logger, lines } = captureLogger('info');
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger });
  registerProblemHandlers(app);
  app.get('/redis-down', async () => {
    const driver = new Error(`connect ECONNREFUSED (${SECRET_URL})`);
    throw new AuthError('service_unavailable', 'Retry shortly', {}, { cause: new InfrastructureError('redis', 'the revocation write to Redis failed', { cause: driver }) });
  });
  app.get('/sql-down', async () => {
    throw new InfrastructureError('sql', 'PostgreSQL is unreachable', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
  });
  app.get('/bug', async () => {
    throw new TypeError('kaput: cannot read x of undefined');
  });
  app.get('/client-error', async () => {
    throw new AuthError('invalid_grant', 'Invalid refresh token', {}, { cause: new Error('row not found: internal detail') });
  });
  beforeAll(() => app.ready());
  afterAll(() => app.close());

  const errorLines = (from: number) =>
    lines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 50);

  it('logs the cause chain of a 503 with its stack, and answers without it', async () => {
    const before = lines.length;
    const res = await app.inject({ method: 'GET', url: '/redis-down' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'service_unavailable', detail: 'Retry shortly' });
    for (const hidden of ['Redis', 'ECONNREFUSED', 'hunter2', 'stack', 'cause', 'server-errors.test']) expect(res.body).not.toContain(hidden);
    const [line, ...more] = errorLines(before);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ event: 'infrastructure.unavailable', code: 'service_unavailable', route: '/redis-down' });
    const cause = line!.cause as { message: string; stack: string };
    expect(cause.message).toBe('the revocation write to Redis failed; connect ECONNREFUSED (redis://[redacted]@10.0.0.9:6379)');
    expect(cause.stack).toContain('InfrastructureError: the revocation write to Redis failed');
    expect(cause.stack).toContain('server-errors.test.ts');
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it('answers an InfrastructureError from SQL with 503 and Retry-After, logging the driver code', async () => {
    const before = lines.length;
    const res = await app.inject({ method: 'GET', url: '/sql-down' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toMatchObject({ code: 'service_unavailable', detail: 'The database is unreachable; try again shortly' });
    expect(res.body).not.toContain('ECONNREFUSED');
    const [line] = errorLines(before);
    expect((line!.cause as { code: string }).code).toBe('ECONNREFUSED');
  });

  it('logs an unexpected error as the cause of its 500, and shows the client nothing of it', async () => {
    const before = lines.length;
    const res = await app.inject({ method: 'GET', url: '/bug' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ code: 'internal_error', detail: 'An unexpected error occurred' });
    expect(res.body).not.toContain('kaput');
    const [line] = errorLines(before);
    expect(line).toMatchObject({ msg: 'unhandled error', event: 'request.failed', code: 'internal_error', route: '/bug' });
    expect((line!.cause as { stack: string }).stack).toContain('TypeError: kaput');
  });

  it('logs no cause for a 4xx and never returns it', async () => {
    const before = lines.length;
    const res = await app.inject({ method: 'GET', url: '/client-error' });
    expect(res.statusCode).toBe(401);
    expect(res.body).not.toContain('internal detail');
    expect(errorLines(before)).toEqual([]);
    expect(lines.slice(before).join('\n')).not.toContain('internal detail');
  });
});
