/**
 * Inbound mail → reactions: the `onMessage` of the inbound SMTP listener. Parses the raw message
 * (DSN, ARF, auto-reply, reply), turns it into engagement events and ingests them, so a hard
 * bounce or complaint is suppressed before the SMTP transaction ends. A message that cannot be
 * parsed is kept as an `inbound` dead letter (with the raw bytes, for replay) and accepted: the
 * sender retrying would not make it parseable. A store failure throws, so the listener answers
 * 451 and the sender delivers again; event source ids derive from a hash of the raw message, so
 * that redelivery is deduplicated at ingest.
 */
import { createHash } from 'node:crypto';
import type { DeadLetters } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import { extractVerpToken } from '../core/bounce/verp.ts';
import { isSwitchyardError, toError } from '../core/errors.ts';
import { parseInboundMessage, toEngagementEvents, type InboundMessage, type ParseInboundOptions } from './inbound/parse.ts';
import type { InboundEnvelope } from './inbound/smtp-listener.ts';
import type { Ingest } from './ingest.ts';

export const INBOUND_DEAD_LETTER_STAGE = 'inbound';

export interface InboundHandlerDeps {
  ingest: Ingest;
  deadLetters: Pick<DeadLetters, 'add'>;
  clock: Clock;
  /** VERP secret: when set, a valid token ties the report to its campaign and contact. */
  verpSecret?: string;
  /** VERP prefix/domain, as used when sending. */
  parse?: ParseInboundOptions;
}

/** The stable id of one raw message: every event of it derives its sourceId from this. */
export function inboundSourceId(raw: Buffer): string {
  return `inbound:${createHash('sha256').update(raw).digest('hex').slice(0, 32)}`;
}

export function createInboundHandler(deps: InboundHandlerDeps): (raw: Buffer, envelope: InboundEnvelope) => Promise<void> {
  return async function onMessage(raw, envelope) {
    const sourceId = inboundSourceId(raw);
    let parsed: InboundMessage;
    try {
      parsed = withEnvelopeVerp(await parseInboundMessage(raw, deps.parse ?? {}), envelope, deps.parse ?? {});
    } catch (err) {
      const e = toError(err);
      // parsing is deterministic: the same bytes would fail again, so keep them and accept
      await deps.deadLetters.add({
        stage: INBOUND_DEAD_LETTER_STAGE,
        code: isSwitchyardError(e) ? e.code : 'INBOUND_MESSAGE_INVALID',
        message: e.message,
        payload: { sourceId, envelope, bytes: raw.length, rawBase64: raw.toString('base64') },
      });
      return;
    }
    const events = toEngagementEvents(parsed, {
      receivedAt: deps.clock.now(), sourceId, ...(deps.verpSecret === undefined ? {} : { verpSecret: deps.verpSecret }),
    });
    if (events.length > 0) await deps.ingest(events);
  };
}

/** Reports often drop our return path from the returned headers; the SMTP envelope still has it. */
function withEnvelopeVerp(parsed: InboundMessage, envelope: InboundEnvelope, options: ParseInboundOptions): InboundMessage {
  if (parsed.verpToken !== undefined) return parsed;
  for (const rcpt of envelope.rcptTo) {
    const token = extractVerpToken(rcpt, { prefix: options.verpPrefix ?? 'b', ...(options.verpDomain === undefined ? {} : { domain: options.verpDomain }) });
    if (token !== null) return { ...parsed, verpToken: token };
  }
  return parsed;
}
