/**
 * Anomaly alerts for the dashboard (admin listener, `anomalies:read`, admin only: alerts name
 * campaigns and segments across the whole workspace). Thin: validate the filter, call the service.
 * The response shape is documented in docs/attribution.md (Anomalies).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AnomalyService } from '../../anomalies/service.ts';
import {
  ANOMALY_METRICS,
  ANOMALY_SCOPES,
  type AnomalyScope,
  GRANULARITIES,
  type Granularity,
} from '../../core/anomaly-series.ts';
import { SwitchyardError } from '../../core/errors.ts';

const Query = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'buckets starting at or after (ISO 8601)' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'buckets starting before (ISO 8601)' })),
    scope: Type.Optional(Type.Union(ANOMALY_SCOPES.map((s) => Type.Literal(s)))),
    metric: Type.Optional(Type.Union(ANOMALY_METRICS.map((m) => Type.Literal(m)))),
    granularity: Type.Optional(Type.Union(GRANULARITIES.map((g) => Type.Literal(g)))),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);

interface QueryT {
  from?: string;
  to?: string;
  scope?: AnomalyScope;
  metric?: string;
  granularity?: Granularity;
  limit: number;
}

export function registerAnomalyRoutes(deps: { anomalies: Pick<AnomalyService, 'list'> }) {
  return (app: FastifyInstance): void => {
    app.get(
      '/v1/anomalies',
      {
        config: { scope: 'anomalies:read' },
        schema: {
          tags: ['attribution'],
          summary: 'Stored anomaly alerts, newest bucket first (campaigns under-, segments over-performing)',
          querystring: Query,
        },
      },
      async (req) => {
        const q = req.query as QueryT;
        const from = q.from === undefined ? undefined : new Date(q.from);
        const to = q.to === undefined ? undefined : new Date(q.to);
        if (from !== undefined && to !== undefined && !(from < to))
          throw new SwitchyardError('VALIDATION_FAILED', 'from must be before to');
        const anomalies = await deps.anomalies.list({
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(q.scope ? { scope: q.scope } : {}),
          ...(q.metric ? { metric: q.metric } : {}),
          ...(q.granularity ? { granularity: q.granularity } : {}),
          limit: q.limit,
        });
        return { anomalies };
      },
    );
  };
}
