// A scripted Tessera for the client's unit tests: `routes['METHOD /path']` answers; every
// call is recorded with its parsed JSON body and Authorization header.
export interface Recorded {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  authorization: string | null;
  credentials: RequestCredentials | undefined;
}

export const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
export const problem = (status: number, code: string) => json(status, { type: `urn:tessera:error:${code}`, title: code, status, detail: `${code} detail`, code });

export function scripted(routes: Record<string, (call: Recorded) => Response>) {
  const calls: Recorded[] = [];
  let tokens = 0;
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const call: Recorded = {
      method: init.method ?? 'GET',
      path: new URL(String(input)).pathname,
      body: typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined,
      authorization: new Headers(init.headers).get('authorization'),
      credentials: init.credentials,
    };
    calls.push(call);
    const route = routes[`${call.method} ${call.path}`];
    return route ? route(call) : problem(404, 'not_found');
  }) as typeof globalThis.fetch;
  const tokenResponse = () => json(200, { access_token: `at-${++tokens}`, token_type: 'Bearer', expires_in: 900, refresh_token: `rt-${tokens}` });
  return { fetch, calls, tokenResponse };
}
