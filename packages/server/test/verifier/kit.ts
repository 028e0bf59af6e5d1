// Shared set-up for the verifier suites: a real Tessera listening on a real port (so the
// JWKS travels over HTTP) and a fetch that counts what the verifier asks for.
import { createTestApp, type TestApp, type TestAppOptions } from '../helpers/app.ts';
import { freePort } from '../helpers/process.ts';

export interface ListeningTessera {
  t: TestApp;
  /** Tessera's ISSUER, which is also where it listens. */
  issuer: string;
  jwksUri: string;
}

/** A Tessera test app whose ISSUER is its real address, listening on 127.0.0.1. */
export async function listeningTessera(options: TestAppOptions = {}): Promise<ListeningTessera> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const t = await createTestApp({ ...options, env: { ISSUER: issuer, ...options.env } });
  await t.fastify.listen({ port, host: '127.0.0.1' });
  return { t, issuer, jwksUri: `${issuer}/.well-known/jwks.json` };
}

export interface CountingFetch {
  fetch: typeof globalThis.fetch;
  /** Every URL requested, in order. */
  calls: string[];
}

/** Wraps the global fetch and records each request's URL. */
export function countingFetch(): CountingFetch {
  const calls: string[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push(input instanceof Request ? input.url : String(input));
      return globalThis.fetch(input, init);
    },
  };
}

/** The rejection's `code` (or the error itself when it has none), for `expect(...).toBe(code)`. */
export async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: unknown }).code ?? err;
  }
  return 'accepted';
}
