// How a virtual user logs in and proves who it is, per architecture: a session cookie (the
// Node app and Tomcat: POST /login, GET /profile, POST /logout, POST /password) or Tessera's
// tokens (POST /auth/login, GET /api/profile on the application with the access token,
// POST /auth/logout, POST /auth/password).
import { Client, pool, type Reply } from '../../bench/lib/client.ts';
import { VISITOR_COOKIE } from './nginx.ts';

export { Client };

/** What a logged-in user holds: its cookies, or its tokens. */
export type Credentials = { kind: 'cookie'; cookies: Map<string, string> } | { kind: 'tessera'; access: string; refresh: string };

export interface Protocol {
  /** Creates the users where the architecture has a user database (Tessera). */
  setup(users: string[]): Promise<void>;
  /** Logs `user` in through `base`; throws on anything but success. */
  login(user: string, base: string): Promise<Credentials>;
  /** The authenticated request (status 200 logged in, 401 not logged in). */
  profile(user: string, creds: Credentials, base: string): Promise<Reply>;
  logout(user: string, creds: Credentials, base: string): Promise<Reply>;
  /** Changes the password; resolves with the credentials to use from now on. */
  changePassword(user: string, creds: Credentials, base: string): Promise<Credentials>;
}

const cookieHeader = (user: string, creds?: Credentials) => {
  const parts = [`${VISITOR_COOKIE}=${user}`];
  if (creds?.kind === 'cookie') for (const [k, v] of creds.cookies) parts.push(`${k}=${v}`);
  return parts.join('; ');
};

/** Applies Set-Cookie headers to a jar: a cookie set empty or already expired is removed. */
function absorb(jar: Map<string, string>, reply: Reply): void {
  const raw = reply.headers['set-cookie'];
  for (const line of Array.isArray(raw) ? raw : raw ? [raw] : []) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
    if (!value || expired) jar.delete(name);
    else jar.set(name, value);
  }
}

export function cookieProtocol(client: Client): Protocol {
  return {
    async setup() {},
    async login(user, base) {
      const res = await client.request('POST', `${base}/login`, { headers: { cookie: cookieHeader(user) }, json: { user } });
      if (res.status !== 200) throw new Error(`login ${res.status}`);
      const cookies = new Map<string, string>();
      absorb(cookies, res);
      if (cookies.size === 0) throw new Error('login set no cookie');
      return { kind: 'cookie', cookies };
    },
    profile(user, creds, base) {
      return client.request('GET', `${base}/profile`, { headers: { cookie: cookieHeader(user, creds) }, timeoutMs: 10_000 });
    },
    async logout(user, creds, base) {
      const res = await client.request('POST', `${base}/logout`, { headers: { cookie: cookieHeader(user, creds) } });
      if (creds.kind === 'cookie') absorb(creds.cookies, res);
      return res;
    },
    async changePassword(user, creds, base) {
      const res = await client.request('POST', `${base}/password`, { headers: { cookie: cookieHeader(user, creds) }, json: {} });
      if (res.status !== 200 || creds.kind !== 'cookie') throw new Error(`password ${res.status}`);
      const cookies = new Map(creds.cookies);
      absorb(cookies, res);
      return { kind: 'cookie', cookies };
    },
  };
}

export const TESSERA_PASSWORD = 'correct horse battery staple';
export const emailOf = (user: string) => `${user}@lab.example.com`;

export function tesseraProtocol(client: Client, register: string): Protocol {
  const passwords = new Map<string, string>();
  const tokens = (res: Reply): Credentials => {
    const body = JSON.parse(res.body) as { access_token: string; refresh_token: string };
    return { kind: 'tessera', access: body.access_token, refresh: body.refresh_token };
  };
  return {
    async setup(users) {
      // argon2 bound: a few at a time.
      await pool(users.length, 4, async (i) => {
        const res = await client.post(`${register}/auth/register`, { email: emailOf(users[i]!), password: TESSERA_PASSWORD });
        if (res.status !== 201) throw new Error(`register: ${res.status} ${res.body}`);
        passwords.set(users[i]!, TESSERA_PASSWORD);
      });
    },
    async login(user, base) {
      const res = await client.post(`${base}/auth/login`, { email: emailOf(user), password: passwords.get(user) ?? TESSERA_PASSWORD });
      if (res.status !== 200) throw new Error(`login ${res.status}`);
      return tokens(res);
    },
    profile(_user, creds, base) {
      const access = creds.kind === 'tessera' ? creds.access : '';
      return client.request('GET', `${base}/api/profile`, { headers: { authorization: `Bearer ${access}` }, timeoutMs: 10_000 });
    },
    logout(_user, creds, base) {
      return client.post(`${base}/auth/logout`, { refresh_token: creds.kind === 'tessera' ? creds.refresh : '' });
    },
    async changePassword(user, creds, base) {
      const current = passwords.get(user) ?? TESSERA_PASSWORD;
      const next = `${current} again`;
      const res = await client.post(
        `${base}/auth/password`,
        { current_password: current, new_password: next },
        { authorization: `Bearer ${creds.kind === 'tessera' ? creds.access : ''}` },
      );
      if (res.status !== 200) throw new Error(`password ${res.status} ${res.body}`);
      passwords.set(user, next);
      return tokens(res);
    },
  };
}
