/**
 * What every single-vendor webhook route (Stripe, HubSpot) shares: raw bodies up to a limit, the
 * refusals (counted always; before verification only sampled, after it kept bounded), and the error
 * handler that answers what Fastify refuses with a 4xx and anything else with a 5xx the vendor
 * redelivers on (a redelivery is a duplicate by event id).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import { type ErrorCode, isSwitchyardError } from '../../core/errors.ts';
import { httpStatusFor } from '../http-status.ts';
import { createRefusalKeeper, deadLetterValue, type RefusalSampling, safeReason } from './webhook-refusals.ts';
import type { WebhookRouteDeps } from './webhooks.ts';

export interface VendorWebhookDeps {
  deadLetters: WebhookRouteDeps['deadLetters'];
  refused: WebhookRouteDeps['refused'];
  clock: Clock;
  maxBodyBytes: number;
  sampling?: Partial<RefusalSampling>;
}

export interface VendorWebhookScope {
  /** Refused before verification: counted, sampled (`webhook.<vendor>.refused`), answered 4xx. */
  refuseUnverified(
    request: FastifyRequest,
    reply: FastifyReply,
    code: ErrorCode,
    reason: string,
    raw?: Buffer,
  ): Promise<FastifyReply>;
  /** Refused after verification: the vendor's own input, so kept (`webhook.<vendor>`, bounded) and answered 4xx. */
  refuseVerified(
    request: FastifyRequest,
    reply: FastifyReply,
    code: ErrorCode,
    reason: string,
    payload: unknown,
  ): Promise<FastifyReply>;
}

/** Sets up `scope` (an encapsulated plugin context) for one vendor's webhook routes. */
export function vendorWebhookScope(
  scope: FastifyInstance,
  deps: VendorWebhookDeps,
  vendor: string,
): VendorWebhookScope {
  const keepRefusal = createRefusalKeeper(deps, deps.sampling);
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxBodyBytes }, (_req, body, done) =>
    done(null, body),
  );

  function answer(request: FastifyRequest, reply: FastifyReply, code: ErrorCode, reason: string): FastifyReply {
    deps.refused.inc({ vendor, code });
    request.log.warn({ vendor, code }, 'webhook rejected');
    return reply.status(httpStatusFor(code)).send({ error: code, message: safeReason(reason) });
  }

  const self: VendorWebhookScope = {
    async refuseUnverified(request, reply, code, reason, raw) {
      await keepRefusal(request, vendor, code, reason, raw);
      return answer(request, reply, code, reason);
    },
    async refuseVerified(request, reply, code, reason, payload) {
      // a store that cannot take it is logged, never answered: the vendor gets the refusal it earned
      try {
        const entry = {
          stage: `webhook.${vendor}`,
          payload: deadLetterValue(payload),
          code,
          message: safeReason(reason),
        };
        await deps.deadLetters.add(entry);
      } catch (err) {
        request.log.error({ err, vendor }, 'webhook dead letter could not be written');
      }
      return answer(request, reply, code, reason);
    },
  };

  scope.setErrorHandler(async (err: FastifyError, request, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return self.refuseUnverified(
        request,
        reply,
        'WEBHOOK_PAYLOAD_TOO_LARGE',
        `body exceeds ${deps.maxBodyBytes} bytes`,
      );
    if (isSwitchyardError(err)) {
      request.log.error({ err, vendor }, 'webhook failed');
      return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: safeReason(err.message) });
    }
    if (err.statusCode !== undefined && err.statusCode < 500)
      return self.refuseUnverified(
        request,
        reply,
        'WEBHOOK_PAYLOAD_INVALID',
        `request refused (${err.code ?? 'bad request'})`,
      );
    request.log.error({ err, vendor }, 'webhook failed');
    return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
  });
  return self;
}
