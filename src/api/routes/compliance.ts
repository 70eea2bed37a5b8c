/**
 * Admin API of the compliance road: data-subject requests (OpenDSR-shaped intake with a signed
 * receipt, status, events), the exceptions queue, legal holds, bundle links, and the consent
 * ledger (verify, one subject's history). Thin: parse, call the service, format.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ConsentLedger } from '../../compliance/consent/ledger.ts';
import type { DsrIdentity, DsrService } from '../../compliance/dsr/service.ts';
import { DSR_TYPES, type DsrType, JURISDICTIONS, type Jurisdiction } from '../../core/dsr/deadlines.ts';

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_:.-]+$' }) });
const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' });

/** The OpenDSR-like request body. */
const DsrBody = Type.Object(
  {
    subject_request_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]+$' })),
    subject_request_type: literals(DSR_TYPES),
    subject_identities: Type.Array(
      Type.Object({
        identity_type: literals(['email', 'name', 'contact_id'] as const),
        identity_value: Type.String({ minLength: 1, maxLength: 254, pattern: '^[^\\u0000]+$' }),
      }),
      { minItems: 1, maxItems: 20 },
    ),
    jurisdiction: Type.Optional(literals(JURISDICTIONS)),
    submitted_time: Type.Optional(Type.String({ format: 'date-time' })),
    status_callback_urls: Type.Optional(
      Type.Array(Type.String({ pattern: '^https?://', maxLength: 2000 }), { maxItems: 1 }),
    ),
    identity_verified: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export function registerComplianceRoutes(deps: { dsr: DsrService; consent: ConsentLedger }) {
  const { dsr, consent } = deps;
  return (app: FastifyInstance): void => {
    const tags = ['compliance'];
    app.post(
      '/v1/dsr',
      {
        config: { scope: 'dsr:write' },
        schema: {
          tags,
          summary: 'Submit a data-subject request (OpenDSR-shaped); a duplicate joins the open one',
          body: DsrBody,
        },
      },
      async (req, reply) => {
        const b = req.body as {
          subject_request_id?: string;
          subject_request_type: DsrType;
          subject_identities: { identity_type: DsrIdentity['type']; identity_value: string }[];
          jurisdiction?: Jurisdiction;
          submitted_time?: string;
          status_callback_urls?: string[];
          identity_verified?: boolean;
        };
        const result = await dsr.submit({
          ...(b.subject_request_id ? { externalId: b.subject_request_id } : {}),
          type: b.subject_request_type,
          identities: b.subject_identities.map((i) => ({ type: i.identity_type, value: i.identity_value })),
          jurisdiction: b.jurisdiction ?? 'unknown',
          ...(b.submitted_time ? { receivedAt: new Date(b.submitted_time) } : {}),
          ...(b.status_callback_urls?.[0] ? { callbackUrl: b.status_callback_urls[0] } : {}),
          ...(b.identity_verified ? { identityVerified: true } : {}),
          channel: 'api',
        });
        return reply
          .status(result.joined ? 200 : 201)
          .send({ ...result.receipt.body, receipt_signature: result.receipt.signature });
      },
    );
    app.get(
      '/v1/dsr',
      {
        config: { scope: 'dsr:read' },
        schema: {
          tags,
          summary: 'List data-subject requests',
          querystring: Type.Object({
            status: Type.Optional(Type.String({ maxLength: 40 })),
            after: Type.Optional(Type.String({ maxLength: 200 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          }),
        },
      },
      async (req) => {
        const q = req.query as { status?: string; after?: string; limit?: number };
        return { requests: await dsr.list({ ...q, limit: q.limit ?? 100 }) };
      },
    );
    app.get(
      '/v1/dsr/:id',
      { config: { scope: 'dsr:read' }, schema: { tags, summary: 'One request: steps and events', params: Id } },
      async (req) => dsr.get((req.params as { id: string }).id),
    );
    app.post(
      '/v1/dsr/:id/bundle-link',
      {
        config: { scope: 'dsr:write' },
        schema: {
          tags,
          summary: 'A signed, expiring download link for an access/portability bundle',
          params: Id,
          body: Type.Object({ ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86_400 })) }),
        },
      },
      async (req) => ({
        url: await dsr.bundleLink(
          (req.params as { id: string }).id,
          ((req.body as { ttl_seconds?: number }).ttl_seconds ?? 7 * 86_400) * 1000,
        ),
      }),
    );
    app.get(
      '/v1/dsr-exceptions',
      {
        config: { scope: 'dsr:read' },
        schema: {
          tags,
          summary: 'The exceptions queue (the only DSR work a person does), earliest deadline first',
          querystring: Type.Object({ all: Type.Optional(Type.Boolean()) }),
        },
      },
      async (req) => ({ exceptions: await dsr.exceptions(!(req.query as { all?: boolean }).all) }),
    );
    app.post(
      '/v1/dsr-exceptions/:id/resolve',
      {
        config: { scope: 'dsr:write' },
        schema: {
          tags,
          summary: 'Resolve an exception: retry the step, or accept it as it stands (note says why)',
          params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
          body: Type.Object({
            by: Type.String({ minLength: 1, maxLength: 200 }),
            action: literals(['retry', 'accept'] as const),
            note: Type.Optional(Type.String({ maxLength: 4000 })),
          }),
        },
      },
      async (req) => {
        const b = req.body as { by: string; action: 'retry' | 'accept'; note?: string };
        await dsr.resolveException((req.params as { id: number }).id, b.by, b.action, b.note);
        return { resolved: true };
      },
    );
    app.post(
      '/v1/dsr-legal-holds',
      {
        config: { scope: 'dsr:write' },
        schema: {
          tags,
          summary: 'Place (or release) a legal hold: erasures of the subject wait in the exceptions queue',
          body: Type.Object({
            email: Email,
            reason: Type.String({ minLength: 1, maxLength: 500 }),
            release: Type.Optional(Type.Boolean()),
          }),
        },
      },
      async (req) => {
        const b = req.body as { email: string; reason: string; release?: boolean };
        if (b.release) return { released: await dsr.releaseLegalHold(b.email) };
        await dsr.placeLegalHold(b.email, b.reason);
        return { placed: true };
      },
    );
    app.get(
      '/v1/consent/verify',
      {
        config: { scope: 'consent:read' },
        schema: { tags, summary: 'Verify the consent ledger chain and checkpoints; names the first broken record' },
      },
      async () => consent.verify(),
    );
    app.post(
      '/v1/consent/export',
      {
        config: { scope: 'consent:read' },
        schema: {
          tags,
          summary: "One subject's consent history and current subscriptions (POST: the address stays out of URLs)",
          body: Type.Object({ email: Email }),
        },
      },
      async (req) => consent.history((req.body as { email: string }).email),
    );
  };
}
