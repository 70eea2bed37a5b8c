/**
 * The dashboard's own API on the admin listener: login (an API key for a session cookie), the
 * System page's last hour, a campaign's funnel and send rate, a campaign preview with a sample
 * contact, the reaction event stream and the demo campaign definition. Each /v1 route declares
 * its scope like every other; the session routes live outside /v1 and authenticate themselves.
 * The pages use these and the existing /v1 routes only, so anything they show is scriptable.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { KeyService } from '../../access/keys.ts';
import type { CampaignService } from '../../campaigns/service.ts';
import { scopesOf } from '../../core/access-roles.ts';
import { SwitchyardError } from '../../core/errors.ts';
import type { GovernorStatus } from '../../deliverability/governor-status.ts';
import type { Db } from '../../store/port.ts';
import type { MetricsHistory } from '../dashboard/metrics-history.ts';
import { previewCampaign, type PreviewDeps } from '../dashboard/preview.ts';
import { engagementCounts, exclusionCounts, recentEvents, sendRate } from '../dashboard/queries.ts';
import {
  csrfTokenOf,
  SESSION_TTL_MS,
  sessionCookie,
  sessionTokenFrom,
  type DashboardSessions,
} from '../dashboard/sessions.ts';

export interface DashboardRouteDeps extends PreviewDeps {
  db: Db;
  keys: Pick<KeyService, 'authenticate'>;
  sessions: DashboardSessions;
  history: MetricsHistory;
  governor: { status(): GovernorStatus };
  campaigns: Pick<CampaignService, 'get' | 'preview' | 'status'>;
  espName: string;
  /** The demo workspace's campaign definition, when the demo is on (prefills the create form). */
  demoCampaign: (() => unknown) | null;
}

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' }) });
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max, pattern: '^[^\\u0000]+$' });

function clearCookie(reply: FastifyReply, req: FastifyRequest): void {
  reply.header('set-cookie', sessionCookie('', { maxAgeSeconds: 0, secure: req.protocol === 'https' }));
}

function registerSessionRoutes(app: FastifyInstance, deps: DashboardRouteDeps): void {
  const tags = ['dashboard'];
  app.post(
    '/session',
    {
      schema: {
        tags,
        summary: 'Dashboard login: trade an API key for an HttpOnly session cookie and a CSRF token',
        body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      },
    },
    async (req, reply) => {
      const principal = await deps.keys.authenticate((req.body as { key: string }).key);
      if (principal === null) throw new SwitchyardError('UNAUTHENTICATED', 'unknown or revoked API key');
      // the audit row of this POST names the key that logged in
      req.principal = principal;
      const s = await deps.sessions.create(principal.keyId);
      reply.header(
        'set-cookie',
        sessionCookie(s.token, { maxAgeSeconds: SESSION_TTL_MS / 1000, secure: req.protocol === 'https' }),
      );
      return { name: principal.name, role: principal.role, scopes: scopesOf(principal.role), csrfToken: s.csrfToken };
    },
  );
  app.get(
    '/session',
    { schema: { tags, summary: 'The current dashboard session: who, which scopes, its CSRF token' } },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      const token = sessionTokenFrom(req.headers.cookie);
      const principal = token === null ? null : await deps.sessions.authenticate(token);
      if (token === null || principal === null) throw new SwitchyardError('UNAUTHENTICATED', 'not logged in');
      return {
        name: principal.name,
        role: principal.role,
        scopes: scopesOf(principal.role),
        csrfToken: csrfTokenOf(token),
      };
    },
  );
  app.delete('/session', { schema: { tags, summary: 'Dashboard logout: ends the session' } }, async (req, reply) => {
    const token = sessionTokenFrom(req.headers.cookie);
    if (token !== null) {
      req.principal = await deps.sessions.authenticate(token);
      await deps.sessions.end(token);
    }
    clearCookie(reply, req);
    return { loggedOut: true };
  });
}

export function registerDashboardRoutes(deps: DashboardRouteDeps) {
  return (app: FastifyInstance): void => {
    registerSessionRoutes(app, deps);
    const tags = ['dashboard'];
    app.get(
      '/v1/dashboard/system',
      {
        config: { scope: 'system:read' },
        schema: {
          tags,
          summary:
            'The last hour per topic and group (depth, lag, throughput, handler p50/p99, error and dead-letter '
            + 'rates), store/bus/ESP health; from memory, sampled every few seconds',
        },
      },
      async () => {
        const s = deps.governor.status();
        const providers = s.providers.map((p) => ({
          provider: p.scope.provider ?? '',
          heldUntil: p.heldUntil,
          deferralPct: p.deferralPct,
          attempts: p.attempts,
        }));
        const openBreakers = [...s.campaigns, ...s.sendingDomains].filter((r) => r.breaker?.state === 'open').length;
        return { ...deps.history.history(), esp: { name: deps.espName, providers, openBreakers } };
      },
    );
    app.get(
      '/v1/dashboard/campaigns/:id/funnel',
      {
        config: { scope: 'campaigns:read' },
        schema: {
          tags,
          summary: 'A campaign funnel (ledger states, exclusions by reason, engagement) and its send rate',
          params: Id,
          querystring: Type.Object({ bucketSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })) }),
        },
      },
      async (req) => {
        const { id } = req.params as { id: string };
        const status = await deps.campaigns.status(id);
        const bucket = (req.query as { bucketSeconds?: number }).bucketSeconds ?? 10;
        const [engagement, rate, excluded] = await Promise.all([
          engagementCounts(deps.db, id),
          sendRate(deps.db, id, bucket),
          exclusionCounts(deps.db, id),
        ]);
        return { status, engagement, excluded, sendRate: { bucketSeconds: bucket, points: rate } };
      },
    );
    app.post(
      '/v1/dashboard/campaigns/:id/preview',
      {
        config: { scope: 'campaigns:write' },
        schema: {
          tags,
          summary: 'Audience count (when known) and the message its first contact would get',
          params: Id,
        },
      },
      async (req) => previewCampaign(deps, (req.params as { id: string }).id),
    );
    app.get(
      '/v1/dashboard/events',
      {
        config: { scope: 'reports:read' },
        schema: {
          tags,
          summary: 'Reaction events, newest first (no addresses); keyset paging with `before`',
          querystring: Type.Object({
            type: Type.Optional(Text(64)),
            campaignId: Type.Optional(Text(200)),
            provider: Type.Optional(Text(64)),
            beforeAt: Type.Optional(Type.String({ format: 'date-time' })),
            beforeId: Type.Optional(Text(500)),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          }),
        },
      },
      async (req) => {
        const q = req.query as {
          type?: string;
          campaignId?: string;
          provider?: string;
          beforeAt?: string;
          beforeId?: string;
          limit?: number;
        };
        const events = await recentEvents(deps.db, {
          ...(q.type === undefined ? {} : { type: q.type }),
          ...(q.campaignId === undefined ? {} : { campaignId: q.campaignId }),
          ...(q.provider === undefined ? {} : { provider: q.provider }),
          ...(q.beforeAt === undefined ? {} : { before: { at: new Date(q.beforeAt), sourceId: q.beforeId ?? '' } }),
          limit: q.limit ?? 100,
        });
        return { events };
      },
    );
    app.get(
      '/v1/dashboard/campaign-template',
      {
        config: { scope: 'campaigns:write' },
        schema: { tags, summary: 'A campaign definition to start from (the demo campaign when the demo is on)' },
      },
      async () => {
        if (deps.demoCampaign === null) throw new SwitchyardError('NOT_FOUND', 'the demo workspace is off');
        return { definition: deps.demoCampaign() };
      },
    );
  };
}
