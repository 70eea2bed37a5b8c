/** The pino root logger. Redaction is a safety net for secrets and addresses, not the plan. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'switchyard' },
      redact: {
        paths: ['*.password', '*.apiKey', '*.secret', '*.email', 'req.headers.authorization', 'req.headers.cookie'],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream | undefined,
  );
}
