/**
 * Parses one raw inbound email (RFC 822) into what it is: a DSN (RFC 3464, or a text bounce scanned
 * with the phrase table), an ARF complaint (RFC 5965) or known non-ARF complaint, an automatic reply
 * (RFC 3834 and vendor signals), or a human reply with quotes trimmed. MIME decoding is mailparser's;
 * classification is core/bounce's. Malformed input throws INBOUND_MESSAGE_INVALID naming the problem.
 */
import type { AddressObject, ParsedMail } from 'mailparser';
import { classifyFailure, extractEnhancedCode } from '../../core/bounce/classify.ts';
import { extractVerpToken } from '../../core/bounce/verp.ts';
import { SwitchyardError, toError } from '../../core/errors.ts';
import { htmlToReplyText, trimReplyBody } from '../../core/reply/trim.ts';
import {
  cleanDiagnostic,
  type FieldBlock,
  field,
  parseFieldBlocks,
  stripAddressType,
  stripMtaType,
} from './report-fields.ts';
import {
  detectAutoReplySignals,
  detectNonArfComplaint,
  isBounceLike,
  isDelayNotice,
  type HeaderLookup,
} from './signals.ts';
import { scanTextBounce } from './text-bounce.ts';
import { isRedactedAddress } from './to-events.ts';
import type { BounceReason } from '../../core/bounce/types.ts';
import type { DsnRecipient, InboundComplaint, InboundDsn, InboundMessage, ParseInboundOptions } from './types.ts';

export { toEngagementEvents } from './to-events.ts';
export type * from './types.ts';

// mailparser (and the MIME stack under it) is loaded on the first inbound message, not at start:
// most servers never receive one.
let mailparser: Promise<typeof import('mailparser')> | null = null;
async function simpleParser(...args: Parameters<typeof import('mailparser').simpleParser>): Promise<ParsedMail> {
  mailparser ??= import('mailparser');
  return (await mailparser).simpleParser(...args);
}

function invalid(message: string, cause?: unknown): SwitchyardError {
  return new SwitchyardError('INBOUND_MESSAGE_INVALID', message, cause === undefined ? {} : { cause });
}

/** `<id@host>` → `id@host`. */
function bareId(value: string | undefined): string | undefined {
  const v = value?.trim().replace(/^<+/, '').replace(/>+$/, '').trim();
  return v === undefined || v === '' ? undefined : v;
}

function headerLookup(mail: ParsedMail): HeaderLookup {
  return (name) =>
    mail.headerLines
      .filter((h) => h.key === name.toLowerCase())
      .map((h) =>
        h.line
          .slice(h.line.indexOf(':') + 1)
          .replace(/\r?\n[ \t]+/g, ' ')
          .trim(),
      );
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.flatMap((a) => a.value.map((v) => v.address ?? '')).filter((a) => a !== '');
}

function firstVerpToken(candidates: readonly (string | undefined)[], options: ParseInboundOptions): string | undefined {
  for (const c of candidates) {
    const address = stripAddressType(c);
    if (address === undefined) continue;
    const token = extractVerpToken(address, {
      prefix: options.verpPrefix ?? 'b',
      ...(options.verpDomain === undefined ? {} : { domain: options.verpDomain }),
    });
    if (token !== null) return token;
  }
  return undefined;
}

interface Returned {
  messageId?: string;
  ledgerId?: string;
  returnPath?: string;
  /** The original's From/Sender/Return-Path addresses: the sender, never a failed recipient. */
  senders?: string[];
  /** The original's To addresses (who a complaint is about when the report does not say). */
  recipients?: string[];
  /** Hotmail's stamp of who complained (X-HmXmrOriginalRecipient). */
  complainant?: string;
  /** A discussion-list post (List-Post): its To is the list, not a person. */
  listPost?: boolean;
}

/** Headers of the returned original (message/rfc822, text/rfc822-headers, or text below a marker). */
async function readReturned(content: Buffer | string | null | undefined): Promise<Returned> {
  if (content === null || content === undefined || content.length === 0) return {};
  try {
    const mail = await simpleParser(content, { skipHtmlToText: true, skipTextToHtml: true });
    const h = headerLookup(mail);
    return {
      ...(bareId(mail.messageId) === undefined ? {} : { messageId: bareId(mail.messageId) }),
      ...(h('x-switchyard-msg')[0] === undefined ? {} : { ledgerId: h('x-switchyard-msg')[0] }),
      ...(h('return-path')[0] === undefined ? {} : { returnPath: h('return-path')[0] }),
      senders: [
        ...addresses(mail.from as AddressObject | undefined),
        ...[...h('return-path'), ...h('sender')].map((v) => stripAddressType(v) ?? '').filter((a) => a.includes('@')),
      ],
      recipients: addresses(mail.to as AddressObject | AddressObject[] | undefined),
      ...(h('list-post').length > 0 ? { listPost: true } : {}),
      ...(h('x-hmxmroriginalrecipient')[0]?.includes('@') === true
        ? { complainant: h('x-hmxmroriginalrecipient')[0]?.trim() }
        : {}),
    };
  } catch {
    return {}; // a damaged returned copy only costs correlation, never the report itself
  }
}

function correlation(returned: Returned, fallbackMessageId: string | undefined, verpToken: string | undefined) {
  const originalMessageId = returned.messageId ?? fallbackMessageId;
  return {
    ...(originalMessageId === undefined ? {} : { originalMessageId }),
    ...(returned.ledgerId === undefined ? {} : { ledgerId: returned.ledgerId }),
    ...(verpToken === undefined ? {} : { verpToken }),
  };
}

function partOf(mail: ParsedMail, ...types: string[]) {
  return mail.attachments.find((a) => types.includes(a.contentType.toLowerCase()));
}

/**
 * The returned original's header block. The MIME parser lists a message/rfc822 part as an attachment
 * only sometimes (inline ones, as AOL's and Hotmail's feedback loops send, are merged into the text),
 * so without one the raw message is searched for the part and its headers are read from there.
 */
function returnedContent(mail: ParsedMail, raw: Buffer | string | undefined): Buffer | string | undefined {
  const part = partOf(mail, 'message/rfc822', 'text/rfc822-headers', 'message/rfc822-headers');
  if (part !== undefined || raw === undefined) return part?.content;
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const m = /^content-type:[ \t]*(?:message\/rfc822|text\/rfc822-headers?)\b[^\n]*\n(?:[^\n]+\n)*?\r?\n/im.exec(text);
  if (m === null) return undefined;
  const rest = text.slice(m.index + m[0].length);
  const end = rest.search(/\r?\n\r?\n/);
  const head = end < 0 ? rest : rest.slice(0, end);
  return /^[!-9;-~]+:/.test(head) ? `${head}\n\n` : undefined;
}

function envelopeCandidates(mail: ParsedMail, h: HeaderLookup): string[] {
  return [...h('delivered-to'), ...h('x-original-to'), ...h('envelope-to'), ...addresses(mail.to)];
}

/** `Name <user@host>` → `user@host`; anything else unchanged. */
function angleAddress(value: string | undefined): string | undefined {
  return /<([^<>\s]+@[^<>\s]+)>/.exec(value ?? '')?.[1] ?? value;
}

const INLINE_FEEDBACK = /^Feedback-Type:[ \t]*[\w-]+[ \t]*$/im;

/** The RFC 5965 field block when it is written into a text part rather than its own part. */
function inlineFeedbackFields(mail: ParsedMail): FieldBlock | undefined {
  const texts = [
    mail.text ?? '',
    ...mail.attachments.filter((a) => a.contentType === 'text/plain').map((a) => a.content.toString('utf8')),
  ];
  for (const text of texts) {
    const m = INLINE_FEEDBACK.exec(text);
    if (m === null) continue;
    const block = parseFieldBlocks(text.slice(m.index)).find((b) => b.has('feedback-type'));
    if (block !== undefined && (block.has('user-agent') || block.has('version') || block.has('original-rcpt-to')))
      return block;
  }
  return undefined;
}

async function parseArf(
  mail: ParsedMail,
  _h: HeaderLookup,
  options: ParseInboundOptions,
  raw?: Buffer | string,
): Promise<InboundComplaint> {
  const part = partOf(mail, 'message/feedback-report');
  // Some reporters send the ARF fields as plain text instead of a message/feedback-report part.
  const inline = part === undefined ? inlineFeedbackFields(mail) : undefined;
  if (part === undefined && inline === undefined)
    throw invalid('multipart/report; report-type=feedback-report has no message/feedback-report part');
  const block = inline ?? parseFieldBlocks(part?.content.toString('utf8') ?? '').find((b) => b.has('feedback-type'));
  const feedbackType = field(block, 'feedback-type')?.toLowerCase();
  if (feedbackType === undefined) throw invalid('message/feedback-report part has no Feedback-Type field');
  const returned = await readReturned(returnedContent(mail, raw));
  const originalMailFrom = stripAddressType(field(block, 'original-mail-from'));
  const verpToken = firstVerpToken([originalMailFrom, returned.returnPath], options);
  const opt = (key: keyof InboundComplaint, value: string | undefined) => (value === undefined ? {} : { [key]: value });
  return {
    kind: 'complaint',
    format: 'arf',
    feedbackType,
    // Without Original-Rcpt-To: the draft-ARF Removal-Recipient, else the one address the original was sent to.
    ...opt(
      'originalRcpt',
      angleAddress(stripAddressType(field(block, 'original-rcpt-to') ?? field(block, 'removal-recipient')))
        ?? (returned.recipients?.length === 1 && !isRedactedAddress(returned.recipients[0] ?? '')
          ? returned.recipients[0]
          : undefined),
    ),
    ...opt('originalMailFrom', originalMailFrom),
    ...opt('userAgent', field(block, 'user-agent')),
    ...opt('sourceIp', field(block, 'source-ip')),
    ...opt('reportedDomain', field(block, 'reported-domain')),
    ...opt('arrivalDate', field(block, 'arrival-date') ?? field(block, 'received-date')),
    ...opt('messageId', bareId(mail.messageId)),
    ...correlation(returned, undefined, verpToken),
  };
}

/** `failed (bad destination)`, `Failure`, `delay` → the RFC 3464 action word. */
function normalizeAction(value: string | undefined): string {
  const word =
    (value ?? 'failed')
      .trim()
      .toLowerCase()
      .split(/[\s(;,]/)[0] ?? '';
  if (word === 'failure' || word === 'fail' || word === 'expired' || word === '') return 'failed';
  if (word === 'delay') return 'delayed';
  return word;
}

const MAILBOX = /^[^\s@<>()]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/i;

/** An X.400 recipient (`/RFC-822=user(a)example.com/…`) carries its Internet address inside. */
function fromX400(value: string | undefined): string | undefined {
  const m = /RFC-822=([^/]+)/i.exec(value ?? '');
  return m?.[1] === undefined ? undefined : m[1].replace(/\(a\)/i, '@');
}

/**
 * Final-Recipient when it is a mailbox; else Original-Recipient (some gateways put a local alias or an
 * X.400 name first).
 */
function blockRecipient(b: FieldBlock): string {
  const final = stripAddressType(field(b, 'final-recipient'));
  const original = stripAddressType(field(b, 'original-recipient'));
  for (const candidate of [final, original, fromX400(final), fromX400(original)])
    if (candidate !== undefined && MAILBOX.test(candidate)) return candidate;
  return final ?? original ?? '';
}

/** Some MTAs repeat a recipient's block per attempt: one result per recipient and action. */
function dedupeBlocks(blocks: FieldBlock[]): FieldBlock[] {
  const seen = new Set<string>();
  return blocks.filter((b) => {
    const key = `${blockRecipient(b).toLowerCase()}|${(field(b, 'action') ?? '').toLowerCase()}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const INLINE_STATUS = /^Final-Recipient:[ \t]*\S/im;

/** The text from the first RFC 3464 per-message or per-recipient field on, when a text part carries them. */
function inlineDeliveryStatus(mail: ParsedMail): string | undefined {
  const texts = [
    mail.text ?? '',
    ...mail.attachments.filter((a) => a.contentType.startsWith('text/')).map((a) => a.content.toString('utf8')),
  ];
  for (const text of texts) {
    const m = INLINE_STATUS.exec(text);
    if (m === null) continue;
    const start = /^(Reporting-MTA|Original-Envelope-Id|Arrival-Date):/im.exec(text.slice(0, m.index));
    return text.slice(start?.index ?? m.index);
  }
  return undefined;
}

function isBounceLikeMail(mail: ParsedMail, h: HeaderLookup): boolean {
  const fromObj = (mail.from as AddressObject | undefined)?.value[0];
  return isBounceLike(
    { ...(fromObj?.address === undefined ? {} : { address: fromObj.address }), name: fromObj?.name ?? '' },
    mail.subject ?? '',
    h,
  );
}

async function parseRfc3464(
  mail: ParsedMail,
  h: HeaderLookup,
  content: Buffer,
  options: ParseInboundOptions,
  raw?: Buffer | string,
): Promise<InboundDsn> {
  const blocks = parseFieldBlocks(content.toString('utf8'));
  const recipientBlocks = dedupeBlocks(blocks.filter((b) => b.has('final-recipient') || b.has('original-recipient')));
  if (recipientBlocks.length === 0) {
    // A report without per-recipient fields still names the recipients in its human part.
    const fallback = await parseTextBounce(mail, h, options);
    if (fallback.recipients.some((r) => r.recipient !== '')) return fallback;
    throw invalid(
      'message/delivery-status part has no per-recipient block (no Final-Recipient or Original-Recipient field)',
    );
  }
  const perMessage = blocks.find((b) => !recipientBlocks.includes(b));
  // The human part often repeats each recipient's SMTP text: evidence when Diagnostic-Code is absent.
  const notice = scanTextBounce(mail.text ?? '');
  const recipients: DsnRecipient[] = recipientBlocks.map((b) => {
    const recipient = blockRecipient(b);
    const originalRecipient = stripAddressType(field(b, 'original-recipient'));
    const action = normalizeAction(field(b, 'action'));
    const status = field(b, 'status') ?? null;
    const diagnostic = cleanDiagnostic(field(b, 'diagnostic-code')) ?? null;
    const remoteMta = stripMtaType(field(b, 'remote-mta')) ?? null;
    const inNotice = notice.recipients.find((r) => r.recipient.toLowerCase() === recipient.toLowerCase());
    const classify = (evidence: string | undefined) =>
      classifyFailure({
        action,
        source: 'dsn',
        ...(status === null ? {} : { status }),
        ...(evidence === undefined ? {} : { diagnostic: evidence }),
        ...(remoteMta === null ? {} : { remoteMta }),
      });
    // Diagnostic-Code first; when it says nothing usable, the human part's text for this recipient.
    let classification = classify(diagnostic ?? inNotice?.paragraph);
    for (const more of [inNotice?.paragraph, inNotice?.mentions, inNotice?.diagnostic]) {
      if (classification.reason !== 'undefined' || more === undefined || more === '') continue;
      classification = classify(`${diagnostic ?? ''} ${more}`);
    }
    return {
      recipient,
      ...(originalRecipient === undefined || originalRecipient === recipient ? {} : { originalRecipient }),
      action,
      status,
      diagnostic,
      remoteMta,
      classification,
    };
  });
  const returned = await readReturned(returnedContent(mail, raw));
  const verpToken = firstVerpToken(
    [...envelopeCandidates(mail, h), returned.returnPath, field(perMessage, 'x-postfix-sender')],
    options,
  );
  const fallbackId = bareId(field(perMessage, 'x-original-message-id')) ?? bareId(mail.inReplyTo);
  const reportingMta = stripMtaType(field(perMessage, 'reporting-mta'));
  return {
    kind: 'dsn',
    format: 'rfc3464',
    recipients,
    ...(reportingMta === undefined ? {} : { reportingMta }),
    ...(bareId(mail.messageId) === undefined ? {} : { messageId: bareId(mail.messageId) }),
    ...correlation(returned, fallbackId, verpToken),
  };
}

async function parseTextBounce(mail: ParsedMail, h: HeaderLookup, options: ParseInboundOptions): Promise<InboundDsn> {
  const body = bodyText(mail);
  const own = [...envelopeCandidates(mail, h), ...addresses(mail.from as AddressObject | undefined)];
  const failed = h('x-failed-recipients')
    .flatMap((v) => v.split(','))
    .map((a) => a.trim())
    .filter((a) => a !== '');
  // Not the raw search here: a text bounce's quoted original may itself carry a message/rfc822 part.
  const attached = partOf(mail, 'message/rfc822', 'text/rfc822-headers');
  const returned = await readReturned(attached?.content ?? scanTextBounce(body).returned);
  // The original's sender is not a failed recipient, unless it is the only address there (a test to self).
  const fromAddress = addresses(mail.from as AddressObject | undefined)[0];
  const localDomain = fromAddress?.slice(fromAddress.lastIndexOf('@') + 1).toLowerCase();
  const withoutSenders = scanTextBounce(body, {
    exclude: [...own, ...(returned.senders ?? [])],
    failedRecipients: failed,
    ...(localDomain === undefined || localDomain === '' ? {} : { localDomain }),
  });
  const scan =
    withoutSenders.recipients.length > 0
      ? withoutSenders
      : scanTextBounce(body, { exclude: own, failedRecipients: failed });
  const action = isDelayNotice(mail.subject ?? '', scan.notice) ? 'delayed' : 'failed';
  // Notices that name recipients by display name only (Exchange 2003, "NAME on DATE") still return the
  // original: when it went to one address that is not ours, that address is the recipient.
  const ownKeys = new Set(own.map((a) => a.toLowerCase()));
  const addressed = (returned.recipients ?? []).filter((a) => !ownKeys.has(a.toLowerCase()));
  const single = addressed.length === 1 && (returned.recipients ?? []).length === 1 && returned.listPost !== true;
  const fallback = single ? (addressed[0] ?? '') : '';
  const found =
    scan.recipients.length > 0
      ? scan.recipients
      : [{ recipient: fallback, diagnostic: scan.notice.replace(/\s+/g, ' '), paragraph: '', mentions: '' }];
  const recipients: DsnRecipient[] = found.map(({ recipient, diagnostic, paragraph, mentions }, index) => {
    // Narrowest evidence first: the paragraph after the address, then the text up to the next
    // address, then the whole notice (sisimai's fallback), so a footer never outvotes the reason.
    let classification = classifyFailure({ action, diagnostic: paragraph || diagnostic, source: 'text' });
    for (const wider of [mentions, diagnostic, `${mail.subject ?? ''}\n${scan.notice}`]) {
      if (classification.reason !== 'undefined') break;
      classification = classifyFailure({ action, diagnostic: wider, source: 'text' });
    }
    // A hard verdict taken from the whole notice must not come from another recipient's own text:
    // their "user unknown" would suppress this address. Without their text, what remains decides.
    if (found.length > 1 && classification.kind === 'hard_bounce' && classification.matchedBy !== 'none') {
      const own = classifyFailure({ action, diagnostic: `${mentions} ${diagnostic}`, source: 'text' });
      if (own.kind !== 'hard_bounce') {
        let notice = scan.notice.replace(/\s+/g, ' ');
        for (const [other, r] of found.entries())
          if (other !== index && r.diagnostic.trim() !== '') notice = notice.split(r.diagnostic).join(' ');
        classification = classifyFailure({ action, diagnostic: `${mail.subject ?? ''}\n${notice}`, source: 'text' });
      }
    }
    return {
      recipient,
      action,
      status: classification.status ?? extractEnhancedCode(diagnostic),
      diagnostic: diagnostic === '' ? null : diagnostic,
      remoteMta: null,
      classification,
    };
  });
  const verpToken = firstVerpToken([...envelopeCandidates(mail, h), returned.returnPath], options);
  return {
    kind: 'dsn',
    format: 'text',
    recipients,
    ...(bareId(mail.messageId) === undefined ? {} : { messageId: bareId(mail.messageId) }),
    ...correlation(returned, bareId(mail.inReplyTo), verpToken),
  };
}

type Json = Record<string, unknown>;
const asObject = (v: unknown): Json | null => (typeof v === 'object' && v !== null ? (v as Json) : null);
const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** SES bounce sub-types that name the reason themselves; others are read from the diagnostic. */
const SES_SUBTYPE_REASON: Readonly<Record<string, BounceReason>> = {
  NoEmail: 'userunknown',
  Suppressed: 'suppressed',
  OnAccountSuppressionList: 'suppressed',
  MailboxFull: 'mailboxfull',
  MessageTooLarge: 'exceedlimit',
  ContentRejected: 'contenterror',
  AttachmentRejected: 'policyviolation',
};

/**
 * An Amazon SES notification mailed as JSON (an SNS e-mail subscription, or SES's own
 * `notificationType`/`eventType` object): Bounce → one DSN recipient per bounced recipient,
 * Complaint → a complaint, Delivery → delivered recipients. Null when the body is not one.
 */
function parseSesNotification(body: string, messageId: string | undefined): InboundMessage | null {
  const start = body.indexOf('{');
  if (start < 0 || !/"(notificationType|eventType|Type)"/.test(body)) return null;
  let json: Json | null;
  try {
    json = asObject(JSON.parse(body.slice(start, body.lastIndexOf('}') + 1)));
  } catch {
    return null;
  }
  const inner = asString(json?.Message);
  if (inner !== undefined) {
    try {
      json = asObject(JSON.parse(inner));
    } catch {
      return null;
    }
  }
  const type = asString(json?.notificationType) ?? asString(json?.eventType);
  const mailObj = asObject(json?.mail);
  const originalMessageId = asString(mailObj?.messageId);
  const ids = {
    ...(messageId === undefined ? {} : { messageId }),
    ...(originalMessageId === undefined ? {} : { originalMessageId }),
  };
  if (type === 'Complaint') {
    const complaint = asObject(json?.complaint);
    const rcpts = Array.isArray(complaint?.complainedRecipients) ? complaint.complainedRecipients : [];
    const rcpt = asString(asObject(rcpts[0])?.emailAddress);
    return {
      kind: 'complaint',
      format: 'amazon-ses',
      feedbackType: asString(complaint?.complaintFeedbackType)?.toLowerCase() ?? 'abuse',
      ...(rcpt === undefined ? {} : { originalRcpt: rcpt }),
      ...ids,
    };
  }
  if (type !== 'Bounce' && type !== 'Delivery') return null;
  const detail = asObject(type === 'Bounce' ? json?.bounce : json?.delivery);
  const list = type === 'Bounce' ? detail?.bouncedRecipients : detail?.recipients;
  const bounceType = asString(detail?.bounceType);
  const subtypeReason = SES_SUBTYPE_REASON[asString(detail?.bounceSubType) ?? ''];
  const recipients: DsnRecipient[] = (Array.isArray(list) ? list : []).map((entry) => {
    const r = asObject(entry);
    const recipient = asString(r?.emailAddress) ?? (typeof entry === 'string' ? entry : '');
    const action =
      type === 'Delivery' ? 'delivered' : (asString(r?.action) ?? (bounceType === 'Transient' ? 'delayed' : 'failed'));
    const status = asString(r?.status) ?? null;
    const diagnostic = cleanDiagnostic(asString(r?.diagnosticCode) ?? asString(detail?.smtpResponse)) ?? null;
    let classification = classifyFailure({
      action,
      source: 'esp',
      ...(status === null ? {} : { status }),
      ...(diagnostic === null ? {} : { diagnostic }),
    });
    if (classification.reason === 'undefined' && subtypeReason !== undefined)
      classification = {
        ...classification,
        reason: subtypeReason,
        kind: subtypeReason === 'userunknown' ? 'hard_bounce' : classification.kind,
      };
    return { recipient, action, status, diagnostic, remoteMta: asString(detail?.reportingMTA) ?? null, classification };
  });
  if (recipients.length === 0) return null;
  return { kind: 'dsn', format: 'text', recipients, ...ids };
}

/** An attached message that is itself a delivery-status report (its header says multipart/report). */
function wrappedReport(mail: ParsedMail): Buffer | undefined {
  for (const a of mail.attachments) {
    if (a.contentType.toLowerCase() !== 'message/rfc822') continue;
    const head = a.content.subarray(0, 8192).toString('latin1');
    const end = head.search(/\r?\n\r?\n/);
    const header = end < 0 ? head : head.slice(0, end);
    if (/^content-type:\s*multipart\/report;[\s\S]*?report-type="?delivery-status/im.test(header)) return a.content;
  }
  return undefined;
}

/** The text part, else the HTML part converted (mailparser's own conversion is switched off). */
function bodyText(mail: ParsedMail): string {
  if (mail.text !== undefined && mail.text.trim() !== '') return mail.text;
  return typeof mail.html === 'string' ? htmlToReplyText(mail.html) : '';
}

function references(mail: ParsedMail): string[] {
  const refs =
    mail.references === undefined
      ? []
      : Array.isArray(mail.references)
        ? mail.references
        : mail.references.split(/\s+/);
  return refs.map((r) => bareId(r)).filter((r): r is string => r !== undefined);
}

async function readMail(raw: Buffer | string): Promise<ParsedMail> {
  if (typeof raw !== 'string' && !Buffer.isBuffer(raw)) {
    throw invalid(`inbound message must be a Buffer or string, got ${raw === null ? 'null' : typeof raw}`);
  }
  if (raw.length === 0 || raw.toString().trim() === '') throw invalid('inbound message is empty');
  // Saved copies sometimes start with blank lines before the header; they are not part of the message.
  if (typeof raw === 'string') raw = raw.replace(/^(?:[ \t]*\r?\n)+/, '');
  else {
    const lead = /^(?:[ \t]*\r?\n)+/.exec(raw.subarray(0, 4096).toString('latin1'))?.[0].length ?? 0;
    if (lead > 0) raw = raw.subarray(lead);
  }
  // RFC 5322 field names are printable ASCII without spaces; an mbox "From " line may precede them.
  const firstLine =
    /^(?:From [^\n]*\n)?([^\r\n]*)/.exec(
      typeof raw === 'string' ? raw.slice(0, 1000) : raw.subarray(0, 1000).toString(),
    )?.[1] ?? '';
  if (!/^[!-9;-~]+:/.test(firstLine)) {
    throw invalid(
      `inbound message has no RFC 822 header fields: first line is not "Name: value" `
        + `(${JSON.stringify(firstLine.slice(0, 40))})`,
    );
  }
  let mail: ParsedMail;
  try {
    mail = await simpleParser(raw, {
      keepDeliveryStatus: true,
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
    });
  } catch (err) {
    throw invalid(`inbound message could not be parsed as MIME: ${toError(err).message}`, err);
  }
  return mail;
}

/** Parses one raw RFC 822 message. Throws INBOUND_MESSAGE_INVALID when it is not a usable message. */
export function parseInboundMessage(raw: Buffer | string, options: ParseInboundOptions = {}): Promise<InboundMessage> {
  return parseMessage(raw, options, 0);
}

/** `depth` counts the re-wrapped reports already opened, so a loop of wrappers ends. */
async function parseMessage(
  raw: Buffer | string,
  options: ParseInboundOptions,
  depth: number,
): Promise<InboundMessage> {
  const mail = await readMail(raw);
  const h = headerLookup(mail);
  const contentType = mail.headers.get('content-type') as
    | { value?: string; params?: Record<string, string> }
    | undefined;
  const reportType = contentType?.params?.['report-type']?.toLowerCase();
  const subject = mail.subject ?? '';
  const fromObj = (mail.from as AddressObject | undefined)?.value[0];
  const from = fromObj?.address;

  if (
    reportType === 'feedback-report'
    || partOf(mail, 'message/feedback-report') !== undefined
    || inlineFeedbackFields(mail) !== undefined
  )
    return parseArf(mail, h, options, raw);
  const notification = parseSesNotification(bodyText(mail), bareId(mail.messageId));
  if (notification !== null) return notification;
  const nonArf = detectNonArfComplaint(from ?? '', subject, h);
  if (nonArf !== null) {
    const returned = await readReturned(returnedContent(mail, raw));
    const complainant = h('x-hmxmroriginalrecipient')[0]?.trim() ?? returned.complainant;
    return {
      kind: 'complaint',
      format: nonArf,
      feedbackType: 'abuse',
      ...(complainant === undefined || !complainant.includes('@') ? {} : { originalRcpt: complainant }),
      ...(bareId(mail.messageId) === undefined ? {} : { messageId: bareId(mail.messageId) }),
      ...correlation(
        returned,
        undefined,
        firstVerpToken([returned.returnPath, ...envelopeCandidates(mail, h)], options),
      ),
    };
  }
  const status = partOf(mail, 'message/delivery-status', 'message/global-delivery-status');
  if (status !== undefined) return parseRfc3464(mail, h, status.content, options, raw);
  // Some MTAs label the delivery-status fields text/plain (or inline them in the notice).
  const inlineStatus = inlineDeliveryStatus(mail);
  if (inlineStatus !== undefined && (reportType === 'delivery-status' || isBounceLikeMail(mail, h)))
    return parseRfc3464(mail, h, Buffer.from(inlineStatus), options, raw);
  if (
    reportType === 'delivery-status'
    || isBounceLike({ ...(from === undefined ? {} : { address: from }), name: fromObj?.name ?? '' }, subject, h)
  ) {
    // A gateway that re-wraps the report it received attaches the real DSN as message/rfc822.
    const wrapped = wrappedReport(mail);
    if (wrapped !== undefined && depth < 2) {
      const inner = await parseMessage(wrapped, options, depth + 1).catch(() => undefined);
      if (inner?.kind === 'dsn' && inner.recipients.some((r) => r.recipient !== '')) return inner;
    }
    return parseTextBounce(mail, h, options);
  }

  const text = bodyText(mail);
  const common = {
    ...(from === undefined ? {} : { from }),
    ...(mail.subject === undefined ? {} : { subject: mail.subject }),
    ...(bareId(mail.messageId) === undefined ? {} : { messageId: bareId(mail.messageId) }),
    ...(bareId(mail.inReplyTo) === undefined ? {} : { inReplyTo: bareId(mail.inReplyTo) }),
    references: references(mail),
  };
  const verpToken = firstVerpToken(envelopeCandidates(mail, h), options);
  const corr = correlation({}, bareId(mail.inReplyTo) ?? references(mail).at(-1), verpToken);
  const signals = detectAutoReplySignals(subject, h);
  if (signals.length > 0) return { kind: 'auto_reply', signals, ...common, text, ...corr };
  const trimmedText = trimReplyBody({
    text: mail.text ?? null,
    html: typeof mail.html === 'string' ? mail.html : null,
  });
  return { kind: 'reply', ...common, text, trimmedText, ...corr };
}
