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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
