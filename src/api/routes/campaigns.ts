/** Campaign endpoints: thin wrappers over the campaigns service. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { CampaignInput, type CampaignService } from '../../campaigns/service.ts';

const Id = Type.Object({ id: Type.String() });

export function registerCampaignRoutes(service: CampaignService) {
  return (app: FastifyInstance): void => {
    const tags = ['campaigns'];
    app.post('/v1/campaigns', { schema: { tags, summary: 'Create a campaign (draft)', body: CampaignInput } }, async (req, reply) =>
      reply.status(201).send(await service.create(req.body)));
    app.get('/v1/campaigns', { schema: { tags, summary: 'List campaigns, newest first' } }, async () => ({ campaigns: await service.list() }));
    app.get('/v1/campaigns/:id', { schema: { tags, summary: 'Get one campaign', params: Id } }, async (req) => service.get((req.params as { id: string }).id));
    app.post('/v1/campaigns/validate', { schema: { tags, summary: 'Validate a definition without saving it' } }, async (req) => service.validate(req.body));
    app.post('/v1/campaigns/:id/validate', { schema: { tags, summary: 'Validate a saved campaign (template, footer fields, audience query)', params: Id } }, async (req) =>
      service.validate((req.params as { id: string }).id));
    app.post('/v1/campaigns/:id/preview', {
      schema: { tags, summary: 'Render the message one contact would get', params: Id, body: Type.Object({ id: Type.String(), email: Type.String() }, { additionalProperties: true }) },
    }, async (req) => service.preview((req.params as { id: string }).id, req.body as { id: string; email: string }));
    for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
      app.post(`/v1/campaigns/:id/${action}`, { schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} the campaign`, params: Id } }, async (req) =>
        service[action]((req.params as { id: string }).id));
    }
    app.get('/v1/campaigns/:id/status', { schema: { tags, summary: 'Counts per state and reason, stage queues, rate and ETA', params: Id } }, async (req) =>
      service.status((req.params as { id: string }).id));
  };
}
