/**
 * Inbound mail → reactions: the `onMessage` of the inbound SMTP listener. Parses the raw message
 * (DSN, ARF, auto-reply, reply), turns it into engagement events, and acts only on the reports that
 * reference a message we sent to the address they name (inbound/vouch.ts): those are ingested, so
 * a hard bounce or complaint is suppressed before the SMTP transaction ends; the others go to the
 * review queue and suppress no one. A request sent to our List-Unsubscribe mailto (subject
 * `unsubscribe-<token>`) is an unsubscribe, handled like the one-click link (unsubscribe.ts), never
 * a reply; a forged token goes to review. Mail to the privacy address (SWITCHYARD_DSR_INBOUND_ADDRESS)
 * is a data-subject request candidate, never a reply: it goes to the review queue with intent
 * `dsr_candidate:<type>` (the type core/dsr/request-intent.ts detects, or `unknown`). Every string
 * is made storable first (NUL, lone surrogates).
 * Failures: a message that cannot be parsed, or whose storing fails in a way that would repeat, is
 * kept as an `inbound` dead letter with its raw bytes and accepted, since the sender retrying would
 * not change the outcome. Only an outage (store or bus unreachable) is thrown, so the listener
 * answers 451 and the sender delivers again; event source ids derive from a hash of the raw
 * message, so that redelivery is deduplicated at ingest.
 */
import { createHash } from 'node:crypto';
import type { DeadLetters } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import { isSwitchyardError, toError } from '../core/errors.ts';
import { toStorable, toStorableText } from '../core/storable-json.ts';
import { isTransientFailure } from '../core/transient-failure.ts';
import type { Queryable } from '../store/port.ts';
import {
  parseInboundMessage,
  toEngagementEvents,
  type InboundMessage,
  type ParseInboundOptions,
} from './inbound/parse.ts';
import type { InboundEnvelope } from './inbound/smtp-listener.ts';
import { referencesOf, vouchForEvents, type FindSentMessages } from './inbound/vouch.ts';
import type { Ingest } from './ingest.ts';
import { addReviewItems, type ReviewPii } from './review-queue.ts';
import { detectDsrRequest } from '../core/dsr/request-intent.ts';
import {
  createMailtoUnsubscriber,
  createUnsubscriber,
  mailtoUnsubscribeToken,
  type Unsubscribe,
} from './unsubscribe.ts';

export const INBOUND_DEAD_LETTER_STAGE = 'inbound';

export interface InboundHandlerDeps {
  /** The review queue. */
  db: Queryable;
  /** The send ledger's rows a report references (the campaign service answers). */
  findSentMessages: FindSentMessages;
  ingest: Ingest;
  deadLetters: Pick<DeadLetters, 'add'>;
  clock: Clock;
  /** VERP signing secrets, newest first (the tracking secrets); without them only Message-IDs vouch for a report. */
  verpSecrets?: readonly string[];
  /** VERP prefix/domain, as used when sending. */
  parse?: ParseInboundOptions;
  /** Tracking secrets that verify mailto unsubscribe tokens; default verpSecrets (the same secrets in app.ts). */
  unsubscribeSecrets?: readonly string[];
  /** Suppresses a ledger row's address (default: createUnsubscriber over db and ingest, as the one-click route). */
  unsubscribe?: Unsubscribe;
  /** PII at rest: review excerpts naming a sender are sealed under that sender's key (src/privacy/). */
  pii?: ReviewPii;
  /** Lower-cased privacy addresses: mail to them is a DSR candidate for the review queue. */
  privacyAddresses?: readonly string[];
}

/** The review intent of a DSR candidate; the suffix is the detected request type or `unknown`. */
export const DSR_CANDIDATE_INTENT = 'dsr_candidate';

/** Characters of the request's own words kept in the review item. */
const DSR_EXCERPT_CHARS = 1_000;

/** The stable id of one raw message: every event of it derives its sourceId from this. */
export function inboundSourceId(raw: Buffer): string {
  return `inbound:${createHash('sha256').update(raw).digest('hex').slice(0, 32)}`;
}

export function createInboundHandler(
  deps: InboundHandlerDeps,
): (raw: Buffer, envelope: InboundEnvelope) => Promise<void> {
  const options = deps.parse ?? {};
  const mailto = createMailtoUnsubscriber({
    secrets: deps.unsubscribeSecrets ?? deps.verpSecrets ?? [],
    unsubscribe: deps.unsubscribe ?? createUnsubscriber({ db: deps.db, ingest: deps.ingest }),
  });
  const keep = async (
    raw: Buffer,
    envelope: InboundEnvelope,
    sourceId: string,
    code: string,
    message: string,
  ): Promise<void> => {
    await deps.deadLetters.add({
      stage: INBOUND_DEAD_LETTER_STAGE,
      code,
      message: toStorableText(message),
      payload: { sourceId, envelope, bytes: raw.length, rawBase64: raw.toString('base64') },
    });
  };

  return async function onMessage(raw, rawEnvelope) {
    const sourceId = inboundSourceId(raw);
    const envelope = toStorable(rawEnvelope);
    let parsed: InboundMessage;
    try {
      parsed = toStorable(await parseInboundMessage(raw, options));
    } catch (err) {
      const e = toError(err);
      // parsing is deterministic: the same bytes would fail again, so keep them and accept
      await keep(raw, envelope, sourceId, isSwitchyardError(e) ? e.code : 'INBOUND_MESSAGE_INVALID', e.message);
      return;
    }
    try {
      const asked = parsed.kind === 'reply' || parsed.kind === 'auto_reply' ? parsed : undefined;
      const token = mailtoUnsubscribeToken(asked?.subject);
      if (token !== null) {
        const outcome = await mailto(token, deps.clock.now());
        if (outcome.kind === 'refused') {
          const [campaignId, contactId] =
            outcome.ledgerId === undefined ? [null, null] : splitLedgerId(outcome.ledgerId);
          await addReviewItems(
            deps.db,
            [
              {
                sourceId: `${sourceId}:mailto`,
                contactId,
                campaignId,
                intent: 'unverified_unsubscribe',
                confidence: 0,
                excerpt: toStorableText(
                  `mailto unsubscribe request from ${asked?.from ?? 'an unnamed sender'}; not acted on: `
                    + `${outcome.reason}.`,
                ),
                email: asked?.from ?? null,
              },
            ],
            deps.clock.now(),
            deps.pii,
          );
        }
        return;
      }
      const privacy = deps.privacyAddresses ?? [];
      if (parsed.kind === 'reply' && envelope.rcptTo.some((r) => privacy.includes(r.trim().toLowerCase()))) {
        // a person writing to the privacy address: a request for a person to check, not a reply
        const detected = detectDsrRequest(parsed.subject, parsed.trimmedText || parsed.text);
        const words = (parsed.trimmedText || parsed.text).trim().slice(0, DSR_EXCERPT_CHARS);
        await addReviewItems(
          deps.db,
          [
            {
              sourceId: `${sourceId}:dsr`,
              contactId: null,
              campaignId: null,
              intent: `${DSR_CANDIDATE_INTENT}:${detected.type ?? 'unknown'}`,
              confidence: detected.confidence,
              excerpt: toStorableText(
                `Data-subject request candidate from ${parsed.from ?? 'an unnamed sender'}`
                  + `${parsed.subject === undefined ? '' : `, subject "${parsed.subject}"`}`
                  + `${detected.matched.length > 1 ? ` (also reads as: ${detected.matched.slice(1).join(', ')})` : ''}`
                  + `: ${words}`,
              ),
              // sealed under the sender's key like other excerpts naming a person: erasing them shreds it
              email: parsed.from ?? null,
            },
          ],
          deps.clock.now(),
          deps.pii,
        );
        return;
      }
      const events = toEngagementEvents(parsed, { receivedAt: deps.clock.now(), sourceId });
      const vouched = await vouchForEvents(
        deps.findSentMessages,
        parsed,
        events,
        referencesOf(parsed, envelope, options),
        deps.verpSecrets ?? [],
      );
      if (vouched.ingest.length > 0) await deps.ingest(vouched.ingest);
      if (vouched.review.length > 0) await addReviewItems(deps.db, vouched.review, deps.clock.now(), deps.pii);
    } catch (err) {
      if (isTransientFailure(err)) throw err; // the store or bus is down: the sender retries later
      if (isSwitchyardError(err)) {
        await keep(raw, envelope, sourceId, err.code, err.message);
        return;
      }
      const sqlstate = (err as { code?: unknown }).code;
      // No data values in the message: a database error may quote the row it refused.
      await keep(
        raw,
        envelope,
        sourceId,
        'INBOUND_MESSAGE_UNSTORABLE',
        `storing the inbound message failed in a way that would repeat`
          + `${typeof sqlstate === 'string' ? ` (${sqlstate})` : ''}`,
      );
    }
  };
}

function splitLedgerId(ledgerId: string): [string, string] {
  const at = ledgerId.indexOf(':');
  return [ledgerId.slice(0, at), ledgerId.slice(at + 1)];
}
