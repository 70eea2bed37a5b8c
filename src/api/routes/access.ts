/**
 * API keys and the audit log (admin server). A created key is returned once, in this response
 * only; listings never carry secrets or hashes. Each route's scope is declared here and checked
 * by access-control.ts.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AuditLog } from '../../access/audit.ts';
import type { KeyService } from '../../access/keys.ts';
import { ROLES, type Role } from '../../core/access-roles.ts';

// PostgreSQL cannot store NUL, and control characters have no place in a name or filter: a 400, not a 500
const Text = (maxLength: number, description?: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f]+$', ...(description ? { description } : {}) });

export function registerAccessRoutes(deps: { keys: KeyService; audit: AuditLog }) {
  return (app: FastifyInstance): void => {
    const tags = ['access'];
    const manage = { scope: 'keys:manage' } as const;
    app.post(
      '/v1/keys',
      {
        config: manage,
        schema: {
          tags,
          summary: 'Create an API key; the key is in this response only',
          body: Type.Object(
            { name: Text(100), role: Type.Union(ROLES.map((r) => Type.Literal(r))) },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const body = req.body as { name: string; role: Role };
        const created = await deps.keys.create(body, { by: req.principal?.name ?? 'unknown' });
        req.auditTarget = { keyId: created.info.id, role: created.info.role };
        return reply.status(201).send(created);
      },
    );
    app.get(
      '/v1/keys',
      { config: manage, schema: { tags, summary: 'List API keys (never their secrets)' } },
      async () => ({ keys: await deps.keys.list() }),
    );
    app.post(
      '/v1/keys/:id/revoke',
      {
        config: manage,
        schema: { tags, summary: 'Revoke a key; its next request is refused', params: Type.Object({ id: Text(100) }) },
      },
      async (req) => deps.keys.revoke((req.params as { id: string }).id, { by: req.principal?.name ?? 'unknown' }),
    );

    app.get(
      '/v1/audit',
      {
        config: { scope: 'audit:read' },
        schema: {
          tags,
          summary: 'Audit log, newest first (keyset paging: pass `next` as `before`)',
          querystring: Type.Object(
            {
              actorKeyId: Type.Optional(Text(100)),
              action: Type.Optional(Text(300, 'e.g. "POST /v1/campaigns/:id/start"')),
              since: Type.Optional(Type.String({ format: 'date-time' })),
              until: Type.Optional(Type.String({ format: 'date-time' })),
              before: Type.Optional(Type.Integer({ minimum: 1 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (req) => {
        const q = req.query as {
          actorKeyId?: string;
          action?: string;
          since?: string;
          until?: string;
          before?: number;
          limit: number;
        };
        return deps.audit.list({
          ...q,
          since: q.since === undefined ? undefined : new Date(q.since),
          until: q.until === undefined ? undefined : new Date(q.until),
        });
      },
    );
    app.get(
      '/v1/audit/verify',
      {
        config: { scope: 'audit:read' },
        schema: { tags, summary: 'Check the hash chain; names the first row that does not match' },
      },
      async () => deps.audit.verify(),
    );
  };
}
