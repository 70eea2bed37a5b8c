/**
 * Attribution endpoints (admin listener, `reports:read`): attributed revenue for a period by
 * campaign, channel, link, journey or segment under any model, and why a conversion belongs to a
 * contact (its identity links with rule and evidence). Thin: validate, call the service.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AttributionService } from '../../attribution/service.ts';
import type { BillingService } from '../../billing/service.ts';
import { GROUP_BY, type GroupBy, REPORT_MODELS, type ReportModel } from '../../core/attribution/journeys.ts';
import { SwitchyardError } from '../../core/errors.ts';

const Query = Type.Object(
  {
    from: Type.String({ format: 'date-time', description: 'period start (inclusive), ISO 8601' }),
    to: Type.String({ format: 'date-time', description: 'period end (exclusive), ISO 8601' }),
    model: Type.Union(
      REPORT_MODELS.map((m) => Type.Literal(m)),
      { default: 'last' },
    ),
    groupBy: Type.Union(
      GROUP_BY.map((g) => Type.Literal(g)),
      { default: 'campaign' },
    ),
    lookbackDays: Type.Optional(Type.Number({ minimum: 0, maximum: 400 })),
    openLookbackDays: Type.Optional(Type.Number({ minimum: 0, maximum: 400 })),
    halfLifeDays: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 400 })),
    includeSends: Type.Optional(Type.Boolean()),
    first: Type.Optional(Type.Number({ minimum: 0 })),
    middle: Type.Optional(Type.Number({ minimum: 0 })),
    last: Type.Optional(Type.Number({ minimum: 0 })),
    currency: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z]{3}$',
        description:
          'ISO 4217 code of the conversions summed (default SWITCHYARD_REVENUE_CURRENCY); others are listed apart',
      }),
    ),
  },
  { additionalProperties: false },
);

interface QueryT {
  from: string;
  to: string;
  model: ReportModel;
  groupBy: GroupBy;
  lookbackDays?: number;
  openLookbackDays?: number;
  halfLifeDays?: number;
  includeSends?: boolean;
  first?: number;
  middle?: number;
  last?: number;
  currency?: string;
}

export function registerAttributionRoutes(deps: {
  attribution: AttributionService;
  billing: Pick<BillingService, 'explain'>;
}) {
  return (app: FastifyInstance): void => {
    const tags = ['attribution'];
    app.get(
      '/v1/attribution/report',
      {
        config: { scope: 'reports:read' },
        schema: {
          tags,
          summary: 'Attributed conversions and revenue (minor units, net of refunds) for a period, by one model',
          querystring: Query,
        },
      },
      async (req) => {
        const q = req.query as QueryT;
        const from = new Date(q.from);
        const to = new Date(q.to);
        if (!(from < to)) throw new SwitchyardError('VALIDATION_FAILED', 'from must be before to');
        const positions =
          q.model === 'positions' ? { first: q.first ?? 0.4, middle: q.middle ?? 0.2, last: q.last ?? 0.4 } : undefined;
        if (positions && positions.first + positions.middle + positions.last <= 0) {
          throw new SwitchyardError('VALIDATION_FAILED', 'position weights must have a positive sum');
        }
        return deps.attribution.report({
          from,
          to,
          model: q.model,
          groupBy: q.groupBy,
          ...(q.lookbackDays !== undefined ? { lookbackDays: q.lookbackDays } : {}),
          ...(q.openLookbackDays !== undefined ? { openLookbackDays: q.openLookbackDays } : {}),
          ...(q.halfLifeDays !== undefined ? { halfLifeDays: q.halfLifeDays } : {}),
          ...(q.includeSends !== undefined ? { includeSends: q.includeSends } : {}),
          ...(positions ? { positions } : {}),
          ...(q.currency !== undefined ? { currency: q.currency } : {}),
        });
      },
    );
    app.get(
      '/v1/attribution/conversions/:id/identity',
      {
        config: { scope: 'reports:read' },
        schema: {
          tags,
          summary: 'Why a conversion is attributed to a contact: its identity links, rule and evidence',
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 300 }) }),
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const links = await deps.billing.explain(id);
        if (links.length === 0) throw new SwitchyardError('NOT_FOUND', 'no identity link for that conversion (yet)');
        return { conversionId: id, links };
      },
    );
  };
}
