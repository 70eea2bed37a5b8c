/**
 * What the webhook routes keep of a refused request or a rejected event: always bounded, always
 * storable. A request refused before verification (unsigned, badly signed, stale, replayed, too deep,
 * too large) costs the sender nothing, so it is counted in full but only sampled for the dead-letter
 * store (stage `webhook.<vendor>.refused`): a few per vendor per minute and per hour, the newest up
 * to a total kept, each the first KB of the body and the non-secret headers. Everything written is cut to a few KB and
 * made storable (core/storable-json.ts), so no input can fail the dead-letter insert or grow it with
 * its size.
 */
import type { FastifyRequest } from 'fastify';
import type { DeadLetters } from '../../bus/port.ts';
import type { Clock } from '../../clock/port.ts';
import { boundJson, DEAD_LETTER_BOUNDS, toStorableText } from '../../core/storable-json.ts';

export interface RefusalSampling {
  /** Refused requests kept per vendor per clock minute. */
  perMinute: number;
  /** …and per clock hour. */
  perHour: number;
  /** Samples kept per vendor (`webhook.<vendor>.refused`): the newest; older ones age out. */
  maxStored: number;
  /** Bytes of the body kept in a sample. */
  bodyBytes: number;
}

export const DEFAULT_REFUSAL_SAMPLING: RefusalSampling = { perMinute: 5, perHour: 30, maxStored: 100, bodyBytes: 1024 };

/** Longest reason stored or answered: reasons may quote vendor ids. */
export const MAX_REASON_LENGTH = 500;

/** Headers kept with a dead letter: never credentials. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
const HEADER_BOUNDS = { maxString: 200, maxEntries: 30, maxDepth: 2 };

export function safeHeaders(headers: FastifyRequest['headers']): unknown {
  return boundJson(
    Object.fromEntries(Object.entries(headers).filter(([k]) => !SECRET_HEADERS.has(k.toLowerCase()))),
    HEADER_BOUNDS,
  );
}

/** A reason made storable and short enough to store and answer. */
export function safeReason(reason: string): string {
  const s = toStorableText(reason);
  return s.length <= MAX_REASON_LENGTH ? s : `${s.slice(0, MAX_REASON_LENGTH)}…`;
}

/** A sample of a request refused before verification: its size and the first bytes, never the whole body. */
export function requestSample(
  headers: FastifyRequest['headers'],
  raw: Buffer | undefined,
  bodyBytes: number,
): Record<string, unknown> {
  if (raw === undefined) return { headers: safeHeaders(headers) };
  return {
    headers: safeHeaders(headers),
    bodyBytes: raw.length,
    bodyHead: toStorableText(raw.subarray(0, bodyBytes).toString('utf8')),
  };
}

/** A parsed value cut to dead-letter bounds (a few KB at most). */
export function deadLetterValue(value: unknown): unknown {
  return boundJson(value, DEAD_LETTER_BOUNDS);
}

/** Fixed clock-minute and clock-hour windows per vendor; in memory, so each process samples on its own. */
export function createRefusalSampler(options: RefusalSampling): { allow(vendor: string, nowMs: number): boolean } {
  const windows = new Map<string, { minute: number; inMinute: number; hour: number; inHour: number }>();
  return {
    allow(vendor, nowMs) {
      const minute = Math.floor(nowMs / 60_000);
      const hour = Math.floor(nowMs / 3_600_000);
      const w = windows.get(vendor) ?? { minute, inMinute: 0, hour, inHour: 0 };
      if (w.minute !== minute) Object.assign(w, { minute, inMinute: 0 });
      if (w.hour !== hour) Object.assign(w, { hour, inHour: 0 });
      windows.set(vendor, w);
      if (w.inMinute >= options.perMinute || w.inHour >= options.perHour) return false;
      w.inMinute += 1;
      w.inHour += 1;
      return true;
    },
  };
}

/**
 * Keeps a sample of a request refused before verification, as the sampling allows. A store that
 * cannot take it is logged, never answered: the sender gets the refusal it earned either way.
 */
export function createRefusalKeeper(
  deps: { deadLetters: Pick<DeadLetters, 'add'>; clock: Clock },
  overrides: Partial<RefusalSampling> = {},
): (request: FastifyRequest, vendor: string, code: string, reason: string, raw?: Buffer) => Promise<void> {
  const sampling = { ...DEFAULT_REFUSAL_SAMPLING, ...overrides };
  const sampler = createRefusalSampler(sampling);
  return async (request, vendor, code, reason, raw) => {
    if (!sampler.allow(vendor, deps.clock.now().getTime())) return;
    try {
      // a stage of its own: what anyone sent is kept apart from (and never crowds out) what the vendor sent
      await deps.deadLetters.add(
        {
          stage: `webhook.${vendor}.refused`,
          payload: requestSample(request.headers, raw, sampling.bodyBytes),
          code,
          message: safeReason(reason),
        },
        { keepNewest: sampling.maxStored },
      );
    } catch (err) {
      request.log.error({ err, vendor, code }, 'webhook dead letter could not be written');
    }
  };
}
