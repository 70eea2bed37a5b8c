/**
 * `POST /webhooks/{sendgrid|mailgun|ses|postmark}`: verify on the raw bytes, normalise, hand the
 * events to ingest. Thin: all vendor logic lives in the verifier registry (the CLI uses the same
 * one). Keeps three promises: nothing unverified is ingested; every rejected request and every
 * rejected event is dead-lettered (stage `webhook.<vendor>`) with the reason; and one bad request
 * never affects the next (no state here beyond the deps). Statuses come from httpStatusFor.
 * The raw-body parser is registered inside an encapsulated plugin, so it applies to these routes only.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import { isSwitchyardError, type ErrorCode } from '../../core/errors.ts';
import type { EngagementEvent } from '../../core/events.ts';
import { ESP_WEBHOOK_VENDORS, type EspWebhookVendor, type NormalizeResult, type WebhookVerifiers } from '../../connectors/esp/webhooks.ts';
import { httpStatusFor } from '../http-status.ts';

export interface WebhookRouteDeps {
  verifiers: WebhookVerifiers;
  /** Stores the events; must be idempotent on sourceId (a redelivery counts as duplicates). */
  ingest(events: EngagementEvent[]): Promise<{ accepted: number; duplicates: number }>;
  deadLetters: { add(entry: { stage: string; payload: unknown; code: string; message: string }): Promise<number> };
  clock: Clock;
  maxBodyBytes: number;
  /** GETs a verified SNS SubscribeURL (confirmSubscription with a real fetch in production). */
  confirmSnsSubscription?(subscribeUrl: string): Promise<void>;
}

/** Headers kept with a dead letter: never credentials. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

function safeHeaders(headers: FastifyRequest['headers']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !SECRET_HEADERS.has(k.toLowerCase())));
}

function bodyText(body: unknown): string | undefined {
  return Buffer.isBuffer(body) ? body.toString('utf8') : undefined;
}

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRouteDeps): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // SendGrid/Mailgun/Postmark send application/json, SNS sends text/plain: keep every body raw.
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxBodyBytes }, (_req, body, done) => done(null, body));

    /** Dead-letters a refused request and answers with the code's status; a dead-letter failure is logged, not fatal. */
    async function refuse(request: FastifyRequest, reply: FastifyReply, vendor: string, code: ErrorCode, reason: string, payload: unknown): Promise<FastifyReply> {
      try {
        await deps.deadLetters.add({ stage: `webhook.${vendor}`, payload, code, message: reason });
      } catch (err) {
        request.log.error({ err, vendor, code }, 'webhook dead letter could not be written');
      }
      request.log.warn({ vendor, code }, 'webhook rejected');
      return reply.status(httpStatusFor(code)).send({ error: code, message: reason });
    }

    scope.setErrorHandler(async (err: FastifyError, request, reply) => {
      const vendor = request.url.split('/')[2]?.split('?')[0] ?? 'unknown';
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const reason = `body exceeds ${deps.maxBodyBytes} bytes (content-length ${request.headers['content-length'] ?? 'unknown'})`;
        return refuse(request, reply, vendor, 'WEBHOOK_PAYLOAD_TOO_LARGE', reason, { headers: safeHeaders(request.headers) });
      }
      if (isSwitchyardError(err)) {
        request.log.error({ err, vendor }, 'webhook failed');
        return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: err.message });
      }
      if (err.statusCode !== undefined && err.statusCode < 500) {
        return refuse(request, reply, vendor, 'WEBHOOK_PAYLOAD_INVALID', `request refused before verification: ${err.message}`, { headers: safeHeaders(request.headers) });
      }
      request.log.error({ err, vendor }, 'webhook failed');
      // 5xx makes the vendor redeliver; redeliveries dedup on sourceId.
      return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
    });

    for (const vendor of ESP_WEBHOOK_VENDORS) {
      scope.post(`/webhooks/${vendor}`, { schema: { hide: true } }, async (request, reply) => handle(vendor, request, reply));
    }

    async function handle(vendor: EspWebhookVendor, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const verifier = deps.verifiers[vendor];
      const verdict = await verifier.verify({ body: raw, headers: request.headers }, deps.clock.now());
      if (!verdict.ok) {
        return refuse(request, reply, vendor, verdict.code, verdict.reason, { headers: safeHeaders(request.headers), body: bodyText(raw) });
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        return refuse(request, reply, vendor, 'WEBHOOK_PAYLOAD_INVALID', `body is not JSON (${(err as Error).message})`, { body: bodyText(raw) });
      }
      if (verdict.subscribeUrl !== undefined) return confirm(request, reply, verdict.subscribeUrl, parsed);
      let result: NormalizeResult;
      try {
        result = verifier.normalize(parsed);
      } catch (err) {
        if (!isSwitchyardError(err)) throw err;
        return refuse(request, reply, vendor, err.code, err.message, { body: parsed });
      }
      for (const r of result.rejected) {
        // A batch vendor (SendGrid) keeps only the bad item; one-event vendors keep the whole body.
        const item = Array.isArray(parsed) ? parsed[r.index] : parsed;
        // Throwing here (dead-letter store down) answers 500 so the vendor redelivers: never drop silently.
        await deps.deadLetters.add({ stage: `webhook.${vendor}`, payload: { index: r.index, event: item }, code: 'WEBHOOK_PAYLOAD_INVALID', message: r.reason });
      }
      const { accepted, duplicates } = result.events.length > 0 ? await deps.ingest(result.events) : { accepted: 0, duplicates: 0 };
      if (result.rejected.length > 0) request.log.warn({ vendor, rejected: result.rejected.length }, 'webhook events rejected');
      return reply.status(200).send({ accepted, duplicates, rejected: result.rejected.length, ignored: result.ignored.length });
    }

    async function confirm(request: FastifyRequest, reply: FastifyReply, subscribeUrl: string, parsed: unknown): Promise<FastifyReply> {
      if (!deps.confirmSnsSubscription) {
        return refuse(request, reply, 'ses', 'WEBHOOK_PAYLOAD_INVALID', `SNS subscription confirmation received but no confirmer is configured; confirm by GET ${subscribeUrl}`, { body: parsed });
      }
      await deps.confirmSnsSubscription(subscribeUrl);
      request.log.info({ vendor: 'ses' }, 'sns subscription confirmed');
      return reply.status(200).send({ accepted: 0, duplicates: 0, rejected: 0, ignored: 0, subscriptionConfirmed: true });
    }
  });
}
