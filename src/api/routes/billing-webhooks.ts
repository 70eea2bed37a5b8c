/**
 * `POST /webhooks/stripe`: billing events in (docs/attribution.md). Verified on the raw bytes with
 * our parser and Stripe's own library (Stripe-Signature, 300 s tolerance), a verified signature is
 * claimed once (a replay with another body is refused), the event is normalised into revenue facts
 * and stored once by event id (billing service; Stripe redelivers and reorders, both are no-ops or
 * order-independent). Like the other webhook routes: nothing unverified is stored; refusals are
 * counted always and dead-lettered as a bounded sample (`webhook.stripe.refused`); verified but
 * malformed bodies are dead-lettered (`webhook.stripe`); bad input is a 4xx with an error code.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import { type ErrorCode, isSwitchyardError } from '../../core/errors.ts';
import { jsonNestingExceeds } from '../../core/json-depth.ts';
import type { BillingEvent, RevenueFact } from '../../connectors/billing/port.ts';
import type { WebhookVerifier } from '../../connectors/webhook-port.ts';
import type { ReplayGuard } from '../../reactions/webhook-replay.ts';
import { httpStatusFor } from '../http-status.ts';
import { createRefusalKeeper, deadLetterValue, type RefusalSampling, safeReason } from './webhook-refusals.ts';
import { MAX_JSON_NESTING, type WebhookRouteDeps } from './webhooks.ts';

export interface BillingWebhookRouteDeps {
  stripe: WebhookVerifier<BillingEvent>;
  /** Stripe snapshot → revenue facts; throws WEBHOOK_PAYLOAD_INVALID on a bad snapshot. */
  facts(event: BillingEvent): RevenueFact[];
  /** Stores once by event id and applies (billing service). */
  record(
    items: Array<{ event: BillingEvent; facts: RevenueFact[] }>,
  ): Promise<{ accepted: number; duplicates: number }>;
  replay: ReplayGuard;
  deadLetters: WebhookRouteDeps['deadLetters'];
  refused: WebhookRouteDeps['refused'];
  clock: Clock;
  maxBodyBytes: number;
  sampling?: Partial<RefusalSampling>;
}

const VENDOR = 'stripe';

export function registerBillingWebhookRoutes(app: FastifyInstance, deps: BillingWebhookRouteDeps): void {
  const keepRefusal = createRefusalKeeper(deps, deps.sampling);

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxBodyBytes }, (_req, body, done) =>
      done(null, body),
    );

    function answer(request: FastifyRequest, reply: FastifyReply, code: ErrorCode, reason: string): FastifyReply {
      deps.refused.inc({ vendor: VENDOR, code });
      request.log.warn({ vendor: VENDOR, code }, 'webhook rejected');
      return reply.status(httpStatusFor(code)).send({ error: code, message: safeReason(reason) });
    }

    async function deadLetter(
      request: FastifyRequest,
      entry: { stage: string; payload: unknown; code: string; message: string },
    ) {
      try {
        await deps.deadLetters.add(entry);
      } catch (err) {
        request.log.error({ err, vendor: VENDOR }, 'webhook dead letter could not be written');
      }
    }

    async function refuseUnverified(
      request: FastifyRequest,
      reply: FastifyReply,
      code: ErrorCode,
      reason: string,
      raw?: Buffer,
    ): Promise<FastifyReply> {
      await keepRefusal(request, VENDOR, code, reason, raw);
      return answer(request, reply, code, reason);
    }

    async function refuseVerified(
      request: FastifyRequest,
      reply: FastifyReply,
      code: ErrorCode,
      reason: string,
      payload: unknown,
    ): Promise<FastifyReply> {
      const entry = {
        stage: `webhook.${VENDOR}`,
        payload: deadLetterValue(payload),
        code,
        message: safeReason(reason),
      };
      await deadLetter(request, entry);
      return answer(request, reply, code, reason);
    }

    scope.setErrorHandler(async (err: FastifyError, request, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        return refuseUnverified(request, reply, 'WEBHOOK_PAYLOAD_TOO_LARGE', `body exceeds ${deps.maxBodyBytes} bytes`);
      if (isSwitchyardError(err)) {
        request.log.error({ err, vendor: VENDOR }, 'webhook failed');
        return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: safeReason(err.message) });
      }
      if (err.statusCode !== undefined && err.statusCode < 500)
        return refuseUnverified(
          request,
          reply,
          'WEBHOOK_PAYLOAD_INVALID',
          `request refused (${err.code ?? 'bad request'})`,
        );
      request.log.error({ err, vendor: VENDOR }, 'webhook failed');
      // 5xx makes Stripe redeliver; redeliveries are duplicates by event id
      return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
    });

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
