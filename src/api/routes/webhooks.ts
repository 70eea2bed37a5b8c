/**
 * `POST /webhooks/{sendgrid|mailgun|ses|postmark}`: verify on the raw bytes, refuse replays,
 * normalise, hand the events to ingest. Thin: all vendor logic lives in the verifier registry
 * (the CLI uses the same one). Promises: nothing unverified is ingested; a verified request is
 * accepted once (its replay key is claimed, and given back only when processing fails with a
 * 5xx); every refused request is counted and refusals before verification are only sampled,
 * bounded (webhook-refusals.ts); every rejected event is dead-lettered, bounded and storable;
 * bad input is a 4xx, never a 5xx; one bad request never affects the next. Statuses come from httpStatusFor.
 * The raw-body parser is registered inside an encapsulated plugin, so it applies to these routes only.
 */
import type { DeadLetters } from '../../bus/port.ts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import { isSwitchyardError, type ErrorCode } from '../../core/errors.ts';
import type { EngagementEvent } from '../../core/events.ts';
import { jsonNestingExceeds } from '../../core/json-depth.ts';
import {
  ESP_WEBHOOK_VENDORS,
  type EspWebhookVendor,
  type NormalizeResult,
  type WebhookVerifiers,
} from '../../connectors/webhook-port.ts';
import type { ReplayGuard } from '../../reactions/webhook-replay.ts';
import { httpStatusFor } from '../http-status.ts';
import { createRefusalKeeper, deadLetterValue, safeReason, type RefusalSampling } from './webhook-refusals.ts';

export interface WebhookRouteDeps {
  verifiers: WebhookVerifiers;
  /** Stores the events; must be idempotent on sourceId (a redelivery counts as duplicates). */
  ingest(events: EngagementEvent[]): Promise<{ accepted: number; duplicates: number }>;
  deadLetters: Pick<DeadLetters, 'add'>;
  /** Remembers replay keys of verified requests (reactions/webhook-replay.ts). */
  replay: ReplayGuard;
  /** Counts every refused request (prom-client Counter switchyard_webhook_refused_total). */
  refused: { inc(labels: { vendor: string; code: string }): void };
  clock: Clock;
  maxBodyBytes: number;
  /** GETs a verified SNS SubscribeURL (confirmSubscription with a real fetch in production). */
  confirmSnsSubscription?(subscribeUrl: string): Promise<void>;
  sampling?: Partial<RefusalSampling>;
}

/** Deeper JSON is refused before parsing; no vendor nests more than ~6 levels. */
export const MAX_JSON_NESTING = 32;
/** Rejected events dead-lettered one by one per request; the rest go into one summary row. */
export const MAX_REJECTED_DEAD_LETTERS = 20;

function vendorOf(request: FastifyRequest): string {
  const v = request.url.split('/')[2]?.split('?')[0];
  // a fixed set: the vendor is a metric label and a sampler key, so it must not come from the sender
  return (ESP_WEBHOOK_VENDORS as readonly string[]).includes(v ?? '') ? v! : 'unknown';
}

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRouteDeps): void {
  const keepRefusal = createRefusalKeeper(deps, deps.sampling);

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // SendGrid/Mailgun/Postmark send application/json, SNS sends text/plain: keep every body raw.
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxBodyBytes }, (_req, body, done) =>
      done(null, body),
    );

    function answer(
      request: FastifyRequest,
      reply: FastifyReply,
      vendor: string,
      code: ErrorCode,
      reason: string,
    ): FastifyReply {
      deps.refused.inc({ vendor, code });
      request.log.warn({ vendor, code }, 'webhook rejected');
      return reply.status(httpStatusFor(code)).send({ error: code, message: safeReason(reason) });
    }

    /** Refused before verification: counted always, dead-lettered only as a bounded sample. */
    async function refuseUnverified(
      request: FastifyRequest,
      reply: FastifyReply,
      vendor: string,
      code: ErrorCode,
      reason: string,
      raw?: Buffer,
    ): Promise<FastifyReply> {
      await keepRefusal(request, vendor, code, reason, raw);
      return answer(request, reply, vendor, code, reason);
    }

    /** Refused after verification: rare and the vendor's own, so every one is kept (bounded). */
    async function refuseVerified(
      request: FastifyRequest,
      reply: FastifyReply,
      vendor: string,
      code: ErrorCode,
      reason: string,
      payload: unknown,
    ): Promise<FastifyReply> {
      try {
        await deps.deadLetters.add({
          stage: `webhook.${vendor}`,
          payload: deadLetterValue(payload),
          code,
          message: safeReason(reason),
        });
      } catch (err) {
        request.log.error({ err, vendor, code }, 'webhook dead letter could not be written');
      }
      return answer(request, reply, vendor, code, reason);
    }

    scope.setErrorHandler(async (err: FastifyError, request, reply) => {
      const vendor = vendorOf(request);
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const reason = `body exceeds ${deps.maxBodyBytes} bytes`;
        return refuseUnverified(request, reply, vendor, 'WEBHOOK_PAYLOAD_TOO_LARGE', reason);
      }
      if (isSwitchyardError(err)) {
        request.log.error({ err, vendor }, 'webhook failed');
        return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: safeReason(err.message) });
      }
      if (err.statusCode !== undefined && err.statusCode < 500) {
        return refuseUnverified(
          request,
          reply,
          vendor,
          'WEBHOOK_PAYLOAD_INVALID',
          `request refused before verification (${err.code ?? 'bad request'})`,
        );
      }
      request.log.error({ err, vendor }, 'webhook failed');
      // 5xx makes the vendor redeliver; redeliveries dedup on sourceId.
      return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
    });

    for (const vendor of ESP_WEBHOOK_VENDORS) {
      scope.post(`/webhooks/${vendor}`, { schema: { hide: true } }, async (request, reply) =>
        handle(vendor, request, reply),
      );
    }

    async function handle(
      vendor: EspWebhookVendor,
      request: FastifyRequest,
      reply: FastifyReply,
    ): Promise<FastifyReply> {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (jsonNestingExceeds(raw, MAX_JSON_NESTING)) {
        return refuseUnverified(
          request,
          reply,
          vendor,
          'WEBHOOK_PAYLOAD_INVALID',
          `body nests deeper than ${MAX_JSON_NESTING} levels`,
          raw,
        );
      }
      const verifier = deps.verifiers[vendor];
      const verdict = await verifier.verify({ body: raw, headers: request.headers }, deps.clock.now());
      if (!verdict.ok) return refuseUnverified(request, reply, vendor, verdict.code, verdict.reason, raw);
      const replay = verdict.replay;
      const seen = replay ? await deps.replay.claim(vendor, replay.key, replay.expiresAt, raw) : 'new';
      if (seen === 'replay') {
        return refuseUnverified(
          request,
          reply,
          vendor,
          'WEBHOOK_REPLAYED',
          'this signature was already used with another body; the request is refused',
          raw,
        );
      }
      try {
        return await processVerified(vendor, request, reply, raw, verdict.subscribeUrl);
      } catch (err) {
        // the vendor will retry after a 5xx: its retry must not be refused as a replay
        if (replay && seen === 'new')
          await deps.replay
            .release(vendor, replay.key)
            .catch((e: unknown) => request.log.error({ err: e, vendor }, 'webhook replay key could not be released'));
        throw err;
      }
    }

    async function processVerified(
      vendor: EspWebhookVendor,
      request: FastifyRequest,
      reply: FastifyReply,
      raw: Buffer,
      subscribeUrl: string | undefined,
    ): Promise<FastifyReply> {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        return refuseVerified(request, reply, vendor, 'WEBHOOK_PAYLOAD_INVALID', 'body is not JSON', {
          bodyBytes: raw.length,
          bodyHead: raw.subarray(0, 1024).toString('utf8'),
        });
      }
      if (subscribeUrl !== undefined) return confirm(request, reply, subscribeUrl, parsed);
      let result: NormalizeResult;
      try {
        result = deps.verifiers[vendor].normalize(parsed);
      } catch (err) {
        if (!isSwitchyardError(err)) throw err;
        return refuseVerified(request, reply, vendor, err.code, err.message, { body: parsed });
      }
      await deadLetterRejected(vendor, parsed, result);
      const { accepted, duplicates } =
        result.events.length > 0 ? await deps.ingest(result.events) : { accepted: 0, duplicates: 0 };
      if (result.rejected.length > 0)
        request.log.warn({ vendor, rejected: result.rejected.length }, 'webhook events rejected');
      return reply
        .status(200)
        .send({ accepted, duplicates, rejected: result.rejected.length, ignored: result.ignored.length });
    }

    /** Throwing here (dead-letter store down) answers 500 so the vendor redelivers: never drop silently. */
    async function deadLetterRejected(
      vendor: EspWebhookVendor,
      parsed: unknown,
      result: NormalizeResult,
    ): Promise<void> {
      const stage = `webhook.${vendor}`;
      for (const r of result.rejected.slice(0, MAX_REJECTED_DEAD_LETTERS)) {
        // A batch vendor (SendGrid) keeps only the bad item; one-event vendors keep the whole body.
        const item = Array.isArray(parsed) ? parsed[r.index] : parsed;
        await deps.deadLetters.add({
          stage,
          payload: { index: r.index, event: deadLetterValue(item) },
          code: 'WEBHOOK_PAYLOAD_INVALID',
          message: safeReason(r.reason),
        });
      }
      const rest = result.rejected.slice(MAX_REJECTED_DEAD_LETTERS);
      if (rest.length > 0) {
        await deps.deadLetters.add({
          stage,
          code: 'WEBHOOK_PAYLOAD_INVALID',
          message: `${rest.length} more events of this request were rejected`,
          payload: deadLetterValue({ rejected: rest.map((r) => ({ index: r.index, reason: safeReason(r.reason) })) }),
        });
      }
    }

    async function confirm(
      request: FastifyRequest,
      reply: FastifyReply,
      subscribeUrl: string,
      parsed: unknown,
    ): Promise<FastifyReply> {
      if (!deps.confirmSnsSubscription) {
        return refuseVerified(
          request,
          reply,
          'ses',
          'WEBHOOK_PAYLOAD_INVALID',
          `SNS subscription confirmation received but no confirmer is configured; confirm by GET ${subscribeUrl}`,
          { body: parsed },
        );
      }
      await deps.confirmSnsSubscription(subscribeUrl);
      request.log.info({ vendor: 'ses' }, 'sns subscription confirmed');
      return reply
        .status(200)
        .send({ accepted: 0, duplicates: 0, rejected: 0, ignored: 0, subscriptionConfirmed: true });
    }
  });
}
