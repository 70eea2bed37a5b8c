/** The pino root logger. Redaction is a safety net for secrets and addresses, not the plan. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'switchyard' },
      redact: {
        // personal fields a careless log call might pass (never the plan: log contact ids, docs/privacy.md)
        paths: [
          '*.password',
          '*.apiKey',
          '*.secret',
          'email',
          '*.email',
          'to',
          '*.to',
          '*.address',
          '*.firstName',
          '*.lastName',
          '*.ip',
          '*.userAgent',
          '*.excerpt',
          '*.body',
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["user-agent"]',
          'req.remoteAddress',
        ],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream | undefined,
  );
}
