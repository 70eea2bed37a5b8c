/**
 * `POST /v1/changes` on the public listener: any system sends contact changes, signed with a
 * shared secret (core/change-intake.ts). Verified on the raw bytes before anything is parsed; an
 * unsigned, badly signed or stale request is a 401 and a malformed one a 400, each kept as a dead
 * letter (stage `changes`) with the reason and at most 4 KB of the body; a good one is applied
 * to the profiles (and the lists they feed) before the answer, so a 200 means durable.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock/port.ts';
import {
  CHANGE_SIGNATURE_HEADER,
  CHANGE_TIMESTAMP_HEADER,
  parseChanges,
  verifyChangeSignature,
} from '../../core/change-intake.ts';
import { type ErrorCode, isSwitchyardError } from '../../core/errors.ts';
import { jsonNestingExceeds } from '../../core/json-depth.ts';
import type { ProfileService } from '../../profiles/service.ts';
import { httpStatusFor } from '../http-status.ts';
import type { WebhookRouteDeps } from './webhooks.ts';

export interface ChangeRouteDeps {
  profiles: Pick<ProfileService, 'submit'>;
  secrets: readonly string[];
  toleranceMs: number;
  clock: Clock;
  deadLetters: Pick<WebhookRouteDeps['deadLetters'], 'add'>;
  maxBodyBytes: number;
}

const SAMPLE_BYTES = 4096;

export function registerChangeRoutes(app: FastifyInstance, deps: ChangeRouteDeps): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxBodyBytes }, (_req, body, done) =>
      done(null, body),
    );

    async function refuse(request: FastifyRequest, reply: FastifyReply, code: ErrorCode, reason: string, raw?: Buffer) {
      try {
        await deps.deadLetters.add({
          stage: 'changes',
          payload: { body: raw === undefined ? null : raw.subarray(0, SAMPLE_BYTES).toString('utf8') },
          code,
          message: reason,
        });
      } catch (err) {
        request.log.error({ err }, 'change dead letter could not be written');
      }
      request.log.warn({ code }, 'change refused');
      return reply.status(httpStatusFor(code)).send({ error: code, message: reason });
    }

    scope.setErrorHandler(async (err: FastifyError, request, reply) => {
      if (isSwitchyardError(err)) {
        return reply.status(httpStatusFor(err.code)).send({ error: err.code, message: err.message });
      }
      if (err.statusCode !== undefined && err.statusCode < 500) {
        return refuse(request, reply, 'CHANGE_INVALID', `request refused (${err.code ?? 'bad request'})`);
      }
      request.log.error({ err }, 'change intake failed');
      return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
    });

    scope.post('/v1/changes', async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = (name: string): string | undefined => {
        const v = request.headers[name];
        return typeof v === 'string' ? v : undefined;
      };
      const check = verifyChangeSignature(
        deps.secrets,
        { signature: header(CHANGE_SIGNATURE_HEADER), timestamp: header(CHANGE_TIMESTAMP_HEADER) },
        raw,
        deps.clock.now().getTime(),
        deps.toleranceMs,
      );
      if (!check.ok) return refuse(request, reply, check.code, check.reason, raw);
      const text = raw.toString('utf8');
      if (jsonNestingExceeds(text, 32)) return refuse(request, reply, 'CHANGE_INVALID', 'JSON nested too deep', raw);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return refuse(request, reply, 'CHANGE_INVALID', 'body is not JSON', raw);
      }
      const parsed = parseChanges(body);
      if (!parsed.ok) {
        const reason = parsed.problems
          .map((p) => `${p.path}: ${p.message}`)
          .join('; ')
          .slice(0, 1000);
        await deps.deadLetters
          .add({ stage: 'changes', payload: body, code: 'CHANGE_INVALID', message: reason })
          .catch((err: unknown) => request.log.error({ err }, 'change dead letter could not be written'));
        return reply.status(400).send({ error: 'CHANGE_INVALID', message: reason, problems: parsed.problems });
      }
      const result = await deps.profiles.submit(parsed.changes.map((c) => ({ ...c, source: 'intake' })));
      return { accepted: parsed.changes.length, contactIds: result.contactIds };
    });
  });
}
