/**
 * `POST /webhooks/hubspot`: CRM change notifications in. Verified on the raw bytes and the URL
 * HubSpot called (signature v3 signs both), normalised into contact changes and handed to
 * `publishChanges`, which puts them on contact.changed deduplicated by event id (HubSpot retries
 * a batch it did not get a 2xx for). Like the ESP webhook routes: nothing unverified is
 * published; refusals are counted always and dead-lettered as a bounded sample
 * (`webhook.hubspot.refused`); verified but malformed bodies and rejected events are dead-lettered
 * (`webhook.hubspot`, bounded); bad input is a 4xx with an error code, never a 5xx.
 */
import type { FastifyInstance } from 'fastify';
import { isSwitchyardError } from '../../core/errors.ts';
import { jsonNestingExceeds } from '../../core/json-depth.ts';
import type { CrmChangeBatch, CrmContactChange } from '../../connectors/crm/port.ts';
import type { WebhookVerifier } from '../../connectors/webhook-port.ts';
import { type VendorWebhookDeps, vendorWebhookScope } from './vendor-webhook-scope.ts';
import { deadLetterValue, safeReason } from './webhook-refusals.ts';
import { MAX_JSON_NESTING, MAX_REJECTED_DEAD_LETTERS } from './webhooks.ts';

export interface CrmWebhookRouteDeps extends VendorWebhookDeps {
  hubspot: WebhookVerifier<CrmChangeBatch>;
  /** Publishes on contact.changed; a change whose source:eventId was published before is a duplicate. */
  publishChanges(changes: CrmContactChange[]): Promise<{ accepted: number; duplicates: number }>;
  /** The public base URL (scheme, host, optional prefix) HubSpot calls; the signed URI is this + the request's path. */
  publicUrl: string;
}

const VENDOR = 'hubspot';

export function registerCrmWebhookRoutes(app: FastifyInstance, deps: CrmWebhookRouteDeps): void {
  app.register(async (scope) => {
    const { refuseUnverified, refuseVerified } = vendorWebhookScope(scope, deps, VENDOR);

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
      const url = `${deps.publicUrl.replace(/\/+$/, '')}${request.url}`;
      const verdict = await deps.hubspot.verify(
        { body: raw, headers: request.headers, method: request.method, url },
        deps.clock.now(),
      );
      if (!verdict.ok) return refuseUnverified(request, reply, verdict.code, verdict.reason, raw);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        return refuseVerified(request, reply, 'WEBHOOK_PAYLOAD_INVALID', 'body is not JSON', {
          bodyBytes: raw.length,
          bodyHead: raw.subarray(0, 1024).toString('utf8'),
        });
      }
      let batch: CrmChangeBatch;
      try {
        batch = deps.hubspot.normalize(parsed);
      } catch (err) {
        if (!isSwitchyardError(err)) throw err;
        return refuseVerified(request, reply, err.code, err.message, { body: parsed });
      }
      // written before publishing: a failure here is a 500 and HubSpot sends the batch again
      const items = Array.isArray(parsed) ? parsed : [];
      for (const r of batch.rejected.slice(0, MAX_REJECTED_DEAD_LETTERS)) {
        await deps.deadLetters.add({
          stage: `webhook.${VENDOR}`,
          payload: { index: r.index, event: deadLetterValue(items[r.index]) },
          code: 'WEBHOOK_PAYLOAD_INVALID',
          message: safeReason(r.reason),
        });
      }
      const rest = batch.rejected.length - MAX_REJECTED_DEAD_LETTERS;
      if (rest > 0) {
        await deps.deadLetters.add({
          stage: `webhook.${VENDOR}`,
          payload: deadLetterValue({ rejected: batch.rejected.slice(MAX_REJECTED_DEAD_LETTERS) }),
          code: 'WEBHOOK_PAYLOAD_INVALID',
          message: `${rest} more events of this request were rejected`,
        });
      }
      const { accepted, duplicates } =
        batch.changes.length > 0 ? await deps.publishChanges(batch.changes) : { accepted: 0, duplicates: 0 };
      return reply
        .status(200)
        .send({ accepted, duplicates, rejected: batch.rejected.length, ignored: batch.ignored.length });
    });
  });
}
