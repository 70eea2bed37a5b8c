/**
 * Transactional sends (`POST /v1/messages`): one templated message to one recipient under the
 * caller's idempotency key. The message is a message stream (src/campaigns/streams.ts) with one
 * recipient, queued on the transactional ready topic through the outbox in the transaction that
 * records the key, so the send stage does the rest (last-moment suppression, render, governor,
 * ledger claim, ESP) exactly as for a blast. A repeated key with the same request returns the
 * first message and queues nothing; the same key with another request is refused.
 *
 * Suppression: a category listed in `passSuppressionCategories` (receipts, password resets…) may
 * reach an address suppressed because its owner unsubscribed from marketing; bounces, complaints
 * and erasures stop every category (docs/journeys.md, Transactional sends). A message may name a
 * preference-centre `topic`: a contact who withdrew from it is not sent it, unless the category
 * passes suppression (a receipt is sent because the person asked for it: docs/compliance.md).
 */
import { createHash } from 'node:crypto';
import type { Bus } from '../bus/port.ts';
import { addToOutbox, publishOutboxed } from '../bus/outbox.ts';
import { TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { checkEmail } from '../core/email-address.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { Priority } from '../core/priority.ts';
import type { Attachment } from '../connectors/esp/port.ts';
import { normalizeEmail } from '../compliance/suppression.ts';
import { validateTemplate } from '../campaigns/render/compile.ts';
import { openStream, streamChunk, streamOutcomes, type StreamDefinition } from '../campaigns/streams.ts';
import type { Db } from '../store/port.ts';
import * as q from './queries.ts';

export interface MessageInput {
  idempotencyKey: string;
  /** What kind of message (`receipt`, `password-reset`, …): decides whether it may pass an unsubscribe. */
  category: string;
  to: { email: string; contactId?: string; name?: string };
  from: { address: string; name?: string };
  replyTo?: { address: string; name?: string };
  subject: string;
  template: { html?: string; text?: string };
  /** Values the template reads as `contact.<name>`. */
  data?: Record<string, unknown>;
  postalAddress?: string;
  /** Files to attach (a report's PDF); refused unless the ESP sends attachments. */
  attachments?: readonly Attachment[];
  /** The preference-centre topic; withdrawn subjects are skipped (not for pass-suppression categories). */
  topic?: string;
}

export type MessageStatus = 'queued' | 'sent' | 'delivered' | 'suppressed' | 'failed' | 'in_doubt' | string;

export interface MessageResult {
  id: string;
  idempotencyKey: string;
  contactId: string;
  category: string;
  /** `queued` until the send stage recorded it, then the ledger state (sent, suppressed, …). */
  status: MessageStatus;
  reason: string | null;
  /** True when this request repeated an earlier key: nothing was queued. */
  duplicate: boolean;
  createdAt: string;
}

export interface MessageSettings {
  /** Categories that may reach an address suppressed because its owner unsubscribed. */
  passSuppressionCategories: readonly string[];
  /** Used when a request names no postal address (CAN-SPAM footer). */
  postalAddress: string;
  /** Whether the configured ESP sends attachments (`Esp.supportsAttachments`); false refuses them. */
  attachments?: boolean;
  /** The ESP's cap on a message's files in base64 characters (`Esp.maxAttachmentBytes`), refused here first. */
  maxAttachmentBytes?: number;
}

/** At most this many files and decoded bytes per message: a report's PDF, not a file transfer. */
const MAX_ATTACHMENTS = 5;
const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;

export interface MessageService {
  send(input: MessageInput, priority?: Priority): Promise<MessageResult>;
  get(id: string): Promise<MessageResult>;
}

/** Unsubscribed is the one suppression reason a pass category overrides: the person still buys. */
export const PASSABLE_SUPPRESSION_REASONS = ['unsubscribed'] as const;

function attachmentProblems(
  files: readonly Attachment[] | undefined,
  supported: boolean,
  espCap: number | undefined,
): string[] {
  if (files === undefined || files.length === 0) return [];
  if (!supported) return ['attachments: the configured ESP does not send attachments'];
  if (files.length > MAX_ATTACHMENTS) return [`attachments: at most ${MAX_ATTACHMENTS}`];
  const problems: string[] = [];
  let bytes = 0;
  files.forEach((f, i) => {
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(f.filename)) problems.push(`attachments[${i}].filename: [A-Za-z0-9._-]{1,100}`);
    if (!/^[a-z]+\/[a-z0-9.+-]+$/i.test(f.contentType))
      problems.push(`attachments[${i}].contentType: not a media type`);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(f.contentBase64)) problems.push(`attachments[${i}].contentBase64: not base64`);
    bytes += Math.floor((f.contentBase64.length * 3) / 4);
  });
  if (bytes > MAX_ATTACHMENT_BYTES) problems.push(`attachments: more than ${MAX_ATTACHMENT_BYTES} bytes`);
  const wire = files.reduce((n, f) => n + f.contentBase64.length, 0);
  if (espCap !== undefined && wire > espCap)
    problems.push(`attachments: ${wire} bytes base64, more than the configured ESP takes (${espCap})`);
  return problems;
}

export function messageIdOf(idempotencyKey: string): string {
  return `msg_${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 24)}`;
}

function requestHash(input: MessageInput, priority: Priority): string {
  const canonical = JSON.stringify([
    input.category,
    normalizeEmail(input.to.email),
    input.to.contactId ?? null,
    input.to.name ?? null,
    input.from,
    input.replyTo ?? null,
    input.subject,
    input.template.html ?? null,
    input.template.text ?? null,
    sortKeys(input.data ?? {}),
    input.postalAddress ?? null,
    priority,
    // only when named, so the hash of every earlier request (and its idempotency) is unchanged
    ...(input.topic === undefined ? [] : [input.topic]),
    // the files by digest (only when there are some, so hashes stored before attachments still match)
    ...(input.attachments === undefined || input.attachments.length === 0
      ? []
      : [
          input.attachments.map((a) => [
            a.filename,
            a.contentType,
            createHash('sha256').update(a.contentBase64).digest('hex'),
          ]),
        ]),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function sortKeys(v: Record<string, unknown>): [string, unknown][] {
  return Object.keys(v)
    .sort()
    .map((k) => [k, v[k]]);
}

export function createMessageService(
  deps: { db: Db; bus: Bus; clock: Clock },
  settings: MessageSettings,
): MessageService {
  const { db, bus, clock } = deps;

  async function resultOf(row: q.MessageRow, duplicate: boolean): Promise<MessageResult> {
    const [outcome] = await streamOutcomes(db, [{ streamId: row.id, contactId: row.contactId }]);
    return {
      id: row.id,
      idempotencyKey: row.idempotencyKey,
      contactId: row.contactId,
      category: row.category,
      status: outcome === undefined ? 'queued' : outcome.state === 'unknown' ? 'in_doubt' : outcome.state,
      reason: outcome?.reason ?? null,
      duplicate,
      createdAt: row.createdAt.toISOString(),
    };
  }

  async function validate(input: MessageInput): Promise<string> {
    const problems: string[] = [];
    const emailProblem = checkEmail(input.to.email.trim());
    if (emailProblem !== null) problems.push(`to.email: ${emailProblem}`);
    const fromProblem = checkEmail(input.from.address.trim());
    if (fromProblem !== null) problems.push(`from.address: ${fromProblem}`);
    const postalAddress = input.postalAddress ?? settings.postalAddress;
    if (postalAddress.trim() === '')
      problems.push('postalAddress: required (or configure SWITCHYARD_MESSAGES_POSTAL_ADDRESS)');
    if (input.template.html === undefined && input.template.text === undefined)
      problems.push('template: needs html or text');
    else {
      const checked = await validateTemplate({ subject: input.subject, ...input.template }, { postalAddress });
      problems.push(...checked.errors.map((e) => `template.${e}`));
    }
    problems.push(...attachmentProblems(input.attachments, settings.attachments === true, settings.maxAttachmentBytes));
    if (problems.length > 0)
      throw new SwitchyardError('MESSAGE_INVALID', `message refused: ${problems.join('; ')}`, {
        details: { problems },
      });
    return postalAddress;
  }

  return {
    async send(input, priority = 'transactional') {
      const id = messageIdOf(input.idempotencyKey);
      const hash = requestHash(input, priority);
      const earlier = await q.getMessageByKey(db, input.idempotencyKey);
      if (earlier !== null) return repeat(earlier, hash);
      const postalAddress = await validate(input);
      const email = input.to.email.trim();
      const contactId = input.to.contactId ?? `email:${normalizeEmail(email)}`;
      const passes = settings.passSuppressionCategories.includes(input.category);
      const def: StreamDefinition = {
        name: `${input.category} message`,
        from: input.from,
        ...(input.replyTo === undefined ? {} : { replyTo: input.replyTo }),
        subject: input.subject,
        template: input.template,
        postalAddress,
        priority,
        tags: [`message:${input.category}`],
        ...(passes ? { passSuppression: PASSABLE_SUPPRESSION_REASONS } : {}),
        ...(passes || input.topic === undefined ? {} : { topic: input.topic }),
        ...(input.attachments === undefined || input.attachments.length === 0
          ? {}
          : { attachments: input.attachments }),
      };
      const now = clock.now();
      const written = await db.transaction(async (tx) => {
        const key = { id, idempotencyKey: input.idempotencyKey, hash, contactId, priority };
        if (!(await q.insertMessage(tx, key, input.category, now))) return null;
        await openStream(tx, id, def, now);
        const fields = { ...(input.data ?? {}), ...(input.to.name === undefined ? {} : { name: input.to.name }) };
        const recipient = { id: contactId, email, fields };
        return addToOutbox(tx, TOPICS.ready(priority), [streamChunk(id, 0, [recipient])], now);
      });
      // a racing request with the same key won the insert: answer as its repeat
      if (written === null) return repeat((await q.getMessageByKey(db, input.idempotencyKey))!, hash);
      await publishOutboxed({ db, bus }, [written]);
      return resultOf((await q.getMessageByKey(db, input.idempotencyKey))!, false);
    },
    async get(id) {
      const row = await q.getMessage(db, id);
      if (row === null) throw new SwitchyardError('NOT_FOUND', `message ${id} not found`);
      return resultOf(row, false);
    },
  };

  async function repeat(row: q.MessageRow, hash: string): Promise<MessageResult> {
    if (row.requestHash !== hash)
      throw new SwitchyardError(
        'MESSAGE_IDEMPOTENCY_CONFLICT',
        'this idempotency key was used for a different message; use a new key for a new message',
      );
    return resultOf(row, true);
  }
}
