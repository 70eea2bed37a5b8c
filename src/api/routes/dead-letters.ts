/** Dead-letter endpoints (admin server): list what the stages gave up on, and requeue it. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Bus } from '../../bus/port.ts';

export function registerDeadLetterRoutes(deps: { bus: Bus }) {
  return (app: FastifyInstance): void => {
    app.get(
      '/v1/dead-letters',
      {
        config: { scope: 'dead-letters:read' },
        schema: {
          tags: ['dead letters'],
          summary: 'List dead letters, newest first',
          querystring: Type.Object({
            stage: Type.Optional(Type.String()),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
            includeRetried: Type.Optional(Type.Boolean()),
          }),
        },
      },
      async (req) => {
        const q = req.query as { stage?: string; limit?: number; includeRetried?: boolean };
        return { deadLetters: await deps.bus.deadLetters.list(q) };
      },
    );

    app.post(
      '/v1/dead-letters/retry',
      {
        config: { scope: 'dead-letters:write' },
        schema: {
          tags: ['dead letters'],
          summary: 'Requeue dead letters to their stage',
          body: Type.Object({ ids: Type.Array(Type.Integer(), { minItems: 1, maxItems: 10_000 }) }),
        },
      },
      async (req) => ({ retried: await deps.bus.deadLetters.retry((req.body as { ids: number[] }).ids) }),
    );
  };
}
