import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * Paths redacted from every log line. Routes never log bodies, but a mistake in a
 * serializer must not leak a token, a password or a hash.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password',
  'current_password',
  'new_password',
  'password_hash',
  'refresh_token',
  'access_token',
  'token',
  '*.password',
  '*.refresh_token',
  '*.access_token',
  '*.token',
  '*.password_hash',
];

/** A URL without its query string: a token put in one (`?access_token=…`) must not reach a log line. */
export function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * How a request appears in log lines (Fastify's `req`, whichever hook logs it): method, path
 * (never the query string), host, client address. Fastify uses a logger instance's own
 * serializers over its defaults.
 */
const serializers = {
  req: (req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) => ({
    method: req.method,
    url: pathOnly(req.url ?? ''),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  }),
};

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers }, destination);
}
