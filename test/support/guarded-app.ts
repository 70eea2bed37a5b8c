/**
 * A small Fastify app for guard tests: the same SwitchyardError → status mapping as the real
 * server (src/api/server.ts), plus dummy routes that count their calls, so a test can show a
 * refused request never reached its handler.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { isSwitchyardError } from '../../src/core/errors.ts';
import { httpStatusFor } from '../../src/api/http-status.ts';

export interface GuardedApp {
  app: FastifyInstance;
  /** Handler calls per route url. */
  calls: Map<string, number>;
  /** Bodies the POST routes received, in order. */
  bodies: unknown[];
}

export function createGuardedApp(options: { trustProxy?: boolean | string } = {}): GuardedApp {
  const app = Fastify({ trustProxy: options.trustProxy ?? false });
  const calls = new Map<string, number>();
  const bodies: unknown[] = [];
  app.setErrorHandler((err, _request, reply) => {
    if (isSwitchyardError(err))
      return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: err.message });
    const e = err as { statusCode?: number; validation?: unknown; message: string };
    if (e.validation !== undefined || (e.statusCode !== undefined && e.statusCode < 500)) {
      return reply.status(e.statusCode ?? 400).send({ error: 'VALIDATION_FAILED', message: e.message });
    }
    return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
  });
  return { app, calls, bodies };
}

/** Routes shaped like the real ones: probes, a read, state changes, a webhook, a tracking hit. */
export function addDummyRoutes(g: GuardedApp): void {
  const count = (url: string): void => {
    g.calls.set(url, (g.calls.get(url) ?? 0) + 1);
  };
  g.app.get('/healthz', async () => {
    count('/healthz');
    return { status: 'ok' };
  });
  g.app.get('/readyz', async () => {
    count('/readyz');
    return { status: 'ready' };
  });
  g.app.get('/v1/campaigns', async () => {
    count('/v1/campaigns');
    return { campaigns: [] };
  });
  g.app.post('/v1/campaigns/:id/cancel', async (req) => {
    count('/v1/campaigns/:id/cancel');
    g.bodies.push(req.body);
    return { ok: true };
  });
  g.app.post('/v1/campaigns', async (req) => {
    count('/v1/campaigns');
    g.bodies.push(req.body);
    return { ok: true };
  });
  g.app.delete('/v1/things/:id', async () => {
    count('/v1/things/:id');
    return { ok: true };
  });
  g.app.post('/webhooks/sendgrid', async () => {
    count('/webhooks/sendgrid');
    return { ok: true };
  });
  g.app.get('/t/o/:token', async () => {
    count('/t/o/:token');
    return 'gif';
  });
}

/** How often the named route's handler ran. */
export function callsTo(g: GuardedApp, url: string): number {
  return g.calls.get(url) ?? 0;
}
