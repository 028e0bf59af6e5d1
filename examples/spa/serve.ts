// A tiny static file server for the example SPA (node:http, no dependencies).
//
//   node --import tsx examples/spa/serve.ts --port 8080 --api http://localhost:3000
//
// With --api it answers /config.js itself, so the page knows where Tessera is; the
// browser-facing origin of this server must be listed in Tessera's CORS_ORIGINS.
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SPA_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The built @tessera/client (npm run build), served to the page under /vendor/tessera-client/. */
export const CLIENT_DIST = path.resolve(SPA_DIR, '../../packages/client/dist');
const VENDOR_PREFIX = '/vendor/tessera-client/';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ico': 'image/x-icon',
};

// The routes of the app (where mailed links land: APP_URL/reset-password#token=…): the page itself.
// /auth/callback: where a provider sign-in returns (?code=…).
const APP_ROUTES = new Set(['/reset-password', '/verify-email', '/confirm-email-change', '/auth/callback']);

// Only what the page is made of: not serve.ts itself, nor anything outside the folder.
const SERVED_EXTENSIONS = new Set(['.html', '.js', '.css', '.ico']);

export interface SpaServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Loopback by default: this is a development server. */
  host?: string;
  /** Tessera's base URL, handed to the page through /config.js. */
  apiUrl?: string;
  root?: string;
}

export interface SpaServer {
  port: number;
  /** http://localhost:PORT: the origin to put in CORS_ORIGINS. */
  url: string;
  close(): Promise<void>;
}

export async function serveSpa(options: SpaServerOptions = {}): Promise<SpaServer> {
  const root = path.resolve(options.root ?? SPA_DIR);
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((request, response) => {
    handle(root, options.apiUrl, request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(
  root: string,
  apiUrl: string | undefined,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const headers = {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Script only from this server: an access token in memory is only as safe as the page
    // is from injected script. connect-src stays open because the API URL is configurable.
    'content-security-policy':
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' http: https:; " +
      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  };
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
    return;
  }
  const requested = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
  const pathname = APP_ROUTES.has(requested) ? '/index.html' : requested;
  if (pathname === '/config.js' && apiUrl !== undefined) {
    const body = `window.TESSERA_CONFIG = ${JSON.stringify({ api: apiUrl })};\n`;
    response.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES['.js'] });
    response.end(request.method === 'HEAD' ? undefined : body);
    return;
  }
  const vendored = pathname.startsWith(VENDOR_PREFIX);
  const base = vendored ? CLIENT_DIST : root;
  const relative = vendored ? pathname.slice(VENDOR_PREFIX.length - 1) : pathname;
  const file = path.resolve(base, `.${relative.endsWith('/') ? `${relative}index.html` : relative}`);
  const inside = file.startsWith(base + path.sep);
  const ext = path.extname(file);
  let body: Buffer | undefined;
  if (inside && SERVED_EXTENSIONS.has(ext)) {
    body = await fs.readFile(file).catch(() => undefined);
  }
  if (body === undefined) {
    response.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  response.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream' });
  response.end(request.method === 'HEAD' ? undefined : body);
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const server = await serveSpa({
    port: Number(argValue(args, '--port') ?? process.env.PORT ?? 8080),
    host: argValue(args, '--host') ?? '127.0.0.1',
    apiUrl: argValue(args, '--api') ?? process.env.TESSERA_API,
  });
  process.stdout.write(`example SPA on ${server.url} (add this origin to Tessera's CORS_ORIGINS)\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
