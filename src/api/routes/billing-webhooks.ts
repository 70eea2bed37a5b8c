/**
 * `POST /webhooks/stripe`: billing events in (docs/attribution.md). Verified on the raw bytes with
 * our parser and Stripe's own library (Stripe-Signature, 300 s tolerance), a verified signature is
 * claimed once (a replay with another body is refused), the event is normalised into revenue facts
 * and stored once by event id (billing service; Stripe redelivers and reorders, both are no-ops or
 * order-independent). Like the other webhook routes: nothing unverified is stored; refusals are
 * counted always and dead-lettered as a bounded sample (`webhook.stripe.refused`); verified but
 * malformed bodies are dead-lettered (`webhook.stripe`); bad input is a 4xx with an error code.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isSwitchyardError } from '../../core/errors.ts';
import { jsonNestingExceeds } from '../../core/json-depth.ts';
import type { BillingEvent, RevenueFact } from '../../connectors/billing/port.ts';
import type { WebhookVerifier } from '../../connectors/webhook-port.ts';
import type { ReplayGuard } from '../../reactions/webhook-replay.ts';
import { type VendorWebhookDeps, vendorWebhookScope } from './vendor-webhook-scope.ts';
import { MAX_JSON_NESTING } from './webhooks.ts';

export interface BillingWebhookRouteDeps extends VendorWebhookDeps {
  stripe: WebhookVerifier<BillingEvent>;
  /** Stripe snapshot → revenue facts; throws WEBHOOK_PAYLOAD_INVALID on a bad snapshot. */
  facts(event: BillingEvent): RevenueFact[];
  /** Stores once by event id and applies (billing service). */
  record(
    items: Array<{ event: BillingEvent; facts: RevenueFact[] }>,
  ): Promise<{ accepted: number; duplicates: number }>;
  replay: ReplayGuard;
}

const VENDOR = 'stripe';

export function registerBillingWebhookRoutes(app: FastifyInstance, deps: BillingWebhookRouteDeps): void {
  app.register(async (scope) => {
    const { refuseUnverified, refuseVerified } = vendorWebhookScope(scope, deps, VENDOR);

    async function processVerified(request: FastifyRequest, reply: FastifyReply, raw: Buffer): Promise<FastifyReply> {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        return refuseVerified(request, reply, 'WEBHOOK_PAYLOAD_INVALID', 'body is not JSON', {
          bodyBytes: raw.length,
          bodyHead: raw.subarray(0, 1024).toString('utf8'),
        });
      }
      let event: BillingEvent;
      let facts: RevenueFact[];
      try {
        event = deps.stripe.normalize(parsed);
        facts = deps.facts(event);
      } catch (err) {
        if (!isSwitchyardError(err)) throw err;
        return refuseVerified(request, reply, err.code, err.message, { body: parsed });
      }
      const { accepted, duplicates } = await deps.record([{ event, facts }]);
      return reply.status(200).send({ received: true, accepted, duplicates, facts: facts.length });
    }

    scope.post(`/webhooks/${VENDOR}`, { schema: { hide: true } }, async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (jsonNestingExceeds(raw, MAX_JSON_NESTING))
        return refuseUnverified(
          request,
          reply,
          'WEBHOOK_PAYLOAD_INVALID',
          `body nests deeper than ${MAX_JSON_NESTING} levels`,
          raw,
        );
      const verdict = await deps.stripe.verify({ body: raw, headers: request.headers }, deps.clock.now());
      if (!verdict.ok) return refuseUnverified(request, reply, verdict.code, verdict.reason, raw);
      const replay = verdict.replay;
      const seen = replay ? await deps.replay.claim(VENDOR, replay.key, replay.expiresAt, raw) : 'new';
      if (seen === 'replay') {
        return refuseUnverified(
          request,
          reply,
          'WEBHOOK_REPLAYED',
          'this signature was already used with another body; the request is refused',
          raw,
        );
      }
      try {
        return await processVerified(request, reply, raw);
      } catch (err) {
        // Stripe retries after a 5xx: its retry must not be refused as a replay
        if (replay && seen === 'new') {
          await deps.replay
            .release(VENDOR, replay.key)
            .catch((e: unknown) => request.log.error({ err: e, vendor: VENDOR }, 'webhook replay key not released'));
        }
        throw err;
      }
    });
  });
}
