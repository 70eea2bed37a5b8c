/** Journey endpoints (admin server): thin wrappers over the journeys service. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { JourneyService } from '../../journeys/service.ts';

const Id = Type.Object({ id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }) });
const ContactId = Type.Object({ contactId: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' }) });
// the definition is checked by the journey validator, which names every problem by path
const Definition = Type.Object({}, { additionalProperties: true });

export function registerJourneyRoutes(service: JourneyService) {
  return (app: FastifyInstance): void => {
    const tags = ['journeys'];
    const read = { scope: 'journeys:read' } as const;
    const write = { scope: 'journeys:write' } as const;
    app.post(
      '/v1/journeys/validate',
      {
        config: write,
        schema: { tags, summary: 'Validate a journey definition; every problem by path', body: Definition },
      },
      async (req) => {
        const problems = await service.validate(req.body);
        return { ok: problems.length === 0, problems };
      },
    );
    app.put(
      '/v1/journeys/:id',
      {
        config: write,
        schema: {
          tags,
          summary: 'Create a journey, or save a new version of it (runs in flight stay on theirs)',
          params: Id,
          body: Definition,
        },
      },
      async (req, reply) => {
        const saved = await service.save((req.params as { id: string }).id, req.body);
        return reply.status(saved.created ? 201 : 200).send(saved);
      },
    );
    app.get('/v1/journeys', { config: read, schema: { tags, summary: 'List journeys' } }, async () => ({
      journeys: await service.list(),
    }));
    app.get(
      '/v1/journeys/:id',
      { config: read, schema: { tags, summary: 'A journey, its current definition and run counts', params: Id } },
      async (req) => service.get((req.params as { id: string }).id),
    );
    for (const [action, status] of [
      ['pause', 'paused'],
      ['resume', 'active'],
      ['archive', 'archived'],
    ] as const) {
      app.post(
        `/v1/journeys/:id/${action}`,
        { config: write, schema: { tags, summary: `${action} the journey`, params: Id } },
        async (req) => service.setStatus((req.params as { id: string }).id, status),
      );
    }
    app.post(
      '/v1/journeys/:id/entries',
      {
        config: write,
        schema: {
          tags,
          summary: 'Enter contacts now (re-entry rules apply); returns the ids that entered',
          params: Id,
          body: Type.Object(
            {
              key: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' }),
              contacts: Type.Array(
                Type.Object(
                  {
                    id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' }),
                    email: Type.Optional(Type.String({ minLength: 3, maxLength: 254 })),
                    timezone: Type.Optional(Type.String({ maxLength: 64 })),
                    attributes: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
                  },
                  { additionalProperties: false },
                ),
                { minItems: 1, maxItems: 10_000 },
              ),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (req) => {
        const body = req.body as { key: string; contacts: { id: string }[] };
        const entered = await service.enter((req.params as { id: string }).id, body.contacts, {
          key: `api:${body.key}`,
          type: 'api',
        });
        return { entered };
      },
    );
    app.post(
      '/v1/journeys/:id/move-runs',
      {
        config: write,
        schema: {
          tags,
          summary: 'Move runs in flight from one version to another (runs at a step the target lacks stay)',
          params: Id,
          body: Type.Object(
            { from: Type.Integer({ minimum: 1 }), to: Type.Integer({ minimum: 1 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (req) => {
        const body = req.body as { from: number; to: number };
        return service.moveRuns((req.params as { id: string }).id, body.from, body.to);
      },
    );
    app.get(
      '/v1/contacts/:contactId/journeys',
      {
        config: read,
        schema: {
          tags,
          summary: "A contact's journey runs step by step, with each email's fate (why did I get this email?)",
          params: ContactId,
        },
      },
      async (req) => service.history((req.params as { contactId: string }).contactId),
    );
  };
}
