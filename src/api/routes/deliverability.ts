/**
 * Deliverability endpoints: the governor's status, and the operator resume of a paused campaign,
 * sending domain or provider hold (governor.resume(scope, { operator: true })). A campaign the
 * governor paused goes back to running through the governor's `resumed` alert.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AlertScope, Governor } from '../../deliverability/governor.ts';

const Scope = Type.Object(
  {
    campaignId: Type.Optional(Type.String({ minLength: 1 })),
    sendingDomain: Type.Optional(Type.String({ minLength: 1 })),
    provider: Type.Optional(Type.String({ minLength: 1 })),
    receivingGroup: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'narrows a provider resume in the docs only; holds are cleared per provider (and sending domain)',
      }),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description: 'What to resume; at least one of campaignId, sendingDomain, provider',
  },
);

export function registerDeliverabilityRoutes(deps: { governor: Pick<Governor, 'status' | 'resume'> }) {
  return (app: FastifyInstance): void => {
    const tags = ['deliverability'];
    app.get(
      '/v1/deliverability/status',
      {
        config: { scope: 'deliverability:read' },
        schema: { tags, summary: 'Governor status: rates, deferral/bounce/complaint %, breakers per scope' },
      },
      async () => deps.governor.status(),
    );
    app.post(
      '/v1/deliverability/resume',
      {
        config: { scope: 'deliverability:write' },
        schema: {
          tags,
          summary: 'Operator resume: close breakers of a campaign / sending domain, clear holds of a provider',
          body: Scope,
        },
      },
      async (req) => {
        const scope = req.body as AlertScope;
        deps.governor.resume(scope, { operator: true });
        const s = deps.governor.status();
        return {
          resumed: scope,
          campaigns: s.campaigns.filter(
            (c) => scope.campaignId !== undefined && c.scope.campaignId === scope.campaignId,
          ),
          sendingDomains: s.sendingDomains.filter(
            (d) => scope.sendingDomain !== undefined && d.scope.sendingDomain === scope.sendingDomain,
          ),
        };
      },
    );
  };
}
