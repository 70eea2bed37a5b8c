/**
 * Executive reports over the admin API: run one now (`POST /v1/reports/:name/run`, scope
 * `reports:run`, admin only: it emails the report's recipients), and fetch the PDF a run kept
 * (`GET /v1/reports/:name/runs/:at/pdf`, `reports:read`). Thin: validate, call the service.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SwitchyardError } from '../../core/errors.ts';
import type { ReportService } from '../../reports/service.ts';

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });

export function registerReportRoutes(deps: { reports: Pick<ReportService, 'runNow' | 'pdf'> }) {
  return (app: FastifyInstance): void => {
    const tags = ['attribution'];
    app.post(
      '/v1/reports/:name/run',
      {
        config: { scope: 'reports:run' },
        schema: {
          tags,
          summary: 'Build and email an executive report now (idempotent per report and minute)',
          params: Type.Object({ name: Name }),
        },
      },
      async (req) => deps.reports.runNow((req.params as { name: string }).name),
    );
    app.get(
      '/v1/reports/:name/runs/:at/pdf',
      {
        config: { scope: 'reports:read' },
        schema: {
          tags,
          summary: 'The PDF of a sent report run (its scheduled time, ISO 8601, as `report run` printed it)',
          params: Type.Object({ name: Name, at: Type.String({ format: 'date-time' }) }),
        },
      },
      async (req, reply) => {
        const { name, at } = req.params as { name: string; at: string };
        const pdf = await deps.reports.pdf(name, new Date(at));
        if (pdf === null) throw new SwitchyardError('NOT_FOUND', 'no sent run of that report at that time');
        return reply.header('content-type', 'application/pdf').send(pdf);
      },
    );
  };
}
