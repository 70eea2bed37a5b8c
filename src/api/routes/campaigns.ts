/** Campaign endpoints (admin server): thin wrappers over the campaigns service. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CampaignInput, type CampaignService } from '../../campaigns/service.ts';

// PostgreSQL cannot store NUL: refused here as a 400 rather than failing in the store as a 500
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' }) });

export function registerCampaignRoutes(service: CampaignService) {
  return (app: FastifyInstance): void => {
    const tags = ['campaigns'];
    // validate and preview are writes: they open audience sources and mint links
    const read = { scope: 'campaigns:read' } as const;
    const write = { scope: 'campaigns:write' } as const;
    app.post(
      '/v1/campaigns',
      { config: write, schema: { tags, summary: 'Create a campaign (draft)', body: CampaignInput } },
      async (req, reply) => reply.status(201).send(await service.create(req.body)),
    );
    app.get('/v1/campaigns', { config: read, schema: { tags, summary: 'List campaigns, newest first' } }, async () => ({
      campaigns: await service.list(),
    }));
    app.get(
      '/v1/campaigns/:id',
      { config: read, schema: { tags, summary: 'Get one campaign', params: Id } },
      async (req) => service.get((req.params as { id: string }).id),
    );
    app.post(
      '/v1/campaigns/validate',
      { config: write, schema: { tags, summary: 'Validate a definition without saving it' } },
      async (req) => service.validate(req.body),
    );
    app.post(
      '/v1/campaigns/:id/validate',
      {
        config: write,
        schema: { tags, summary: 'Validate a saved campaign (template, footer fields, audience query)', params: Id },
      },
      async (req) => service.validate((req.params as { id: string }).id),
    );
    app.post(
      '/v1/campaigns/:id/preview',
      {
        config: write,
        schema: {
          tags,
          summary: 'Render the message one contact would get',
          params: Id,
          body: Type.Object({ id: Type.String(), email: Type.String() }, { additionalProperties: true }),
        },
      },
      async (req) => service.preview((req.params as { id: string }).id, req.body as { id: string; email: string }),
    );
    for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
      app.post(
        `/v1/campaigns/:id/${action}`,
        {
          config: write,
          schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} the campaign`, params: Id },
        },
        async (req) => service[action]((req.params as { id: string }).id),
      );
    }
    app.get(
      '/v1/campaigns/:id/status',
      {
        config: read,
        schema: { tags, summary: 'Counts per state and reason, stage queues, rate and ETA', params: Id },
      },
      async (req) => service.status((req.params as { id: string }).id),
    );
    app.get(
      '/v1/campaigns/:id/ab-test',
      {
        config: read,
        schema: {
          tags,
          summary: 'The A/B test: phase, live per-variant results with intervals, the decision and its numbers',
          params: Id,
        },
      },
      async (req) => service.abTest((req.params as { id: string }).id),
    );
    app.post(
      '/v1/campaigns/:id/ab-test/winner',
      {
        config: write,
        schema: {
          tags,
          summary: 'Stop the A/B test now and send the remainder this variant',
          params: Id,
          body: Type.Object({ variant: Type.Integer({ minimum: 0, maximum: 7 }) }, { additionalProperties: false }),
        },
      },
      async (req) => service.pickWinner((req.params as { id: string }).id, (req.body as { variant: number }).variant),
    );
  };
}
