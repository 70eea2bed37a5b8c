/**
 * Builds the complete RFC 5322 message for an OutboundMessage, so that nodemailer only transports
 * it (its `raw` option) instead of composing it. Composing through MailComposer/MimeNode is most of
 * nodemailer's CPU per message (header normalisation, the data-URL image scan, the per-node
 * transfer-encoding scans, streams per part; bench/README.md, blast); our messages have one fixed
 * shape, so the message is built as one string here. What needs encoding goes through nodemailer's own helpers
 * (MimeNode's header encoder, foldLines, its quoted-printable encoder), so headers come out as
 * nodemailer would write them; the property test in test/connectors/esp/smtp/compose.test.ts
 * checks that a parser reads the same message from both.
 *
 * Shape: text/plain, or multipart/alternative (text, then html) when there is html, both parts
 * utf-8. A part goes 7bit when it is printable ASCII with no line over 998 octets, otherwise
 * quoted-printable. Every line ends in CRLF (a lone CR or LF in the content becomes CRLF). Lines
 * that start with "." are left alone: the transport's DataStream dot-stuffs the raw message too.
 */
import { randomFillSync } from 'node:crypto';
import MimeNode from 'nodemailer/lib/mime-node/index.js';
import { foldLines } from 'nodemailer/lib/mime-funcs/index.js';
import { encode as encodeQp, wrap as wrapQp } from 'nodemailer/lib/qp/index.js';
import type { Address, Attachment, OutboundMessage } from '../port.ts';

/** The correlation headers stamped on every message (a DSN or ARF report names the ledger row). */
export const SMTP_CORRELATION_HEADERS = {
  ledgerId: 'X-Switchyard-Msg',
  campaignId: 'X-Switchyard-Campaign',
  contactId: 'X-Switchyard-Contact',
} as const;

/** Header names we write ourselves; a msg.headers entry of the same name is dropped (nodemailer's
 *  setHeader replaces it the same way). */
const OWN_HEADERS = new Set([
  'from',
  'reply-to',
  'to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  ...Object.values(SMTP_CORRELATION_HEADERS).map((h) => h.toLowerCase()),
]);

/** nodemailer's header encoder: addresses (punycode, quoting, encoded-word names), msg-ids and
 *  unstructured values (encoded words for non-ASCII, control characters and "=?" look-alikes). */
const encoder = new MimeNode(false);

/** A header value that goes out as it is: printable ASCII, nothing that reads as an encoded word,
 *  and no '"' (nodemailer's encodeWords encodes a value holding one; so do we, to read the same). */
const PLAIN_VALUE = /^[\x20\x21\x23-\x7e]*$/;
/** CRLF-separated lines of printable ASCII and TAB: one linear pass (the classes are disjoint, so
 *  it never backtracks more than a line), cheaper than searching for the opposite. */
const ASCII_LINES = /^(?:[\t\x20-\x7e]*\r\n)*[\t\x20-\x7e]*$/;
const LINE_BREAK = /\r\n|\r|\n/g;
/** What RFC 5322 allows in a field name (printable ASCII without the colon). */
const NOT_FIELD_NAME = /[^\x21-\x39\x3b-\x7e]/g;

/** One header line, folded at whitespace to 76 columns where it can be. */
function headerLine(key: string, value: string): string {
  const encoded = PLAIN_VALUE.test(value) && !value.includes('=?') ? value : encoder.encodeHeaderValue(key, value);
  return foldLines(`${key}: ${encoded}`, 76);
}

function addressLine(key: string, address: Address): string {
  return foldLines(
    `${key}: ${encoder.encodeHeaderValue(key, { name: address.name ?? '', address: address.address })}`,
    76,
  );
}

/**
 * Lines that repeat across a campaign's messages and cost the encoder (From and Reply-To, a
 * non-ASCII subject or extra header), keyed by their inputs. Bounded: emptied when full, so a
 * process sending for many campaigns (or personalised non-ASCII subjects) only loses its benefit.
 */
const CACHE_LIMIT = 512;
const cache = new Map<string, string>();
function cached(key: string, build: () => string): string {
  let line = cache.get(key);
  if (line === undefined) {
    line = build();
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, line);
  }
  return line;
}

function senderLines(from: Address, replyTo: Address | undefined): string {
  const field = (v: string): string => `${v.length}:${v}`;
  const key =
    `s${field(from.name ?? '')}${field(from.address)}`
    + `${replyTo === undefined ? '' : field(replyTo.name ?? '') + field(replyTo.address)}`;
  return cached(
    key,
    () => addressLine('From', from) + '\r\n' + (replyTo === undefined ? '' : addressLine('Reply-To', replyTo) + '\r\n'),
  );
}

/** A header value that needs the encoder (a non-ASCII subject) is encoded once per distinct value;
 *  a plain one (a per-contact List-Unsubscribe) is only folded, and stays out of the cache. */
function extraHeaderLine(key: string, value: string): string {
  if (PLAIN_VALUE.test(value) && !value.includes('=?')) return foldLines(`${key}: ${value}`, 76);
  return cached(`h${key.length}:${key}${value}`, () => headerLine(key, value));
}

let lastDateSecond = Number.NaN;
let lastDate = '';
function dateValue(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== lastDateSecond) {
    lastDateSecond = second;
    lastDate = now.toUTCString().replace('GMT', '+0000');
  }
  return lastDate;
}

/** Fresh random bytes for each boundary, drawn from a pool that is refilled in one call. */
const BOUNDARY_BYTES = 16;
const randomPool = Buffer.alloc(BOUNDARY_BYTES * 256);
let randomOffset = randomPool.length;
function randomBoundary(): string {
  if (randomOffset + BOUNDARY_BYTES > randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const token = randomPool.toString('hex', randomOffset, randomOffset + BOUNDARY_BYTES);
  randomOffset += BOUNDARY_BYTES;
  return `=_sy_${token}`;
}

interface Part {
  contentType: string;
  encoding: '7bit' | 'quoted-printable';
  body: string;
}

/**
 * Whether a CRLF text has a line over 998 octets (ASCII: characters). A loop over the lines with
 * indexOf: the regexes for it (/^[^\r\n]{999}/m) cost ten times as much on a typical body.
 */
function hasLongLine(crlf: string): boolean {
  if (crlf.length <= 998) return false;
  let start = 0;
  for (;;) {
    const end = crlf.indexOf('\n', start);
    if (end < 0) return crlf.length - start > 998;
    if (end - start > 999) return true;
    start = end + 1;
  }
}

function encodePart(contentType: string, content: string): Part {
  // templates write LF: replacing the string is cheaper than the regex, which a CR needs
  const crlf = content.includes('\r') ? content.replace(LINE_BREAK, '\r\n') : content.replaceAll('\n', '\r\n');
  if (ASCII_LINES.test(crlf) && !hasLongLine(crlf)) return { contentType, encoding: '7bit', body: crlf };
  return { contentType, encoding: 'quoted-printable', body: wrapQp(encodeQp(crlf), 76) };
}

function partHeaders(part: Part): string {
  return `Content-Type: ${part.contentType}\r\nContent-Transfer-Encoding: ${part.encoding}\r\n\r\n`;
}

/**
 * The message as it goes into DATA (before dot-stuffing), CRLF line endings throughout. `now`
 * is the Date header. An empty text or html is left out, as nodemailer does (a message with
 * neither is an empty text/plain).
 */
export function composeMessage(msg: OutboundMessage, now: Date): Buffer {
  let head =
    senderLines(msg.from, msg.replyTo)
    + addressLine('To', msg.to)
    + '\r\n'
    + extraHeaderLine('Subject', msg.subject)
    + '\r\n'
    + `Date: ${dateValue(now)}\r\n`
    + headerLine('Message-ID', `<${msg.messageId}>`)
    + '\r\n'
    + 'MIME-Version: 1.0\r\n';
  for (const name of Object.keys(msg.headers)) {
    const value = msg.headers[name]!;
    const key = name.replace(NOT_FIELD_NAME, '');
    if (key === '' || value.trim() === '' || OWN_HEADERS.has(key.toLowerCase())) continue;
    head += extraHeaderLine(key, value) + '\r\n';
  }
  const { ledgerId, campaignId, contactId } = msg.correlation;
  if (ledgerId.trim() !== '') head += headerLine(SMTP_CORRELATION_HEADERS.ledgerId, ledgerId) + '\r\n';
  if (campaignId.trim() !== '') head += headerLine(SMTP_CORRELATION_HEADERS.campaignId, campaignId) + '\r\n';
  if (contactId.trim() !== '') head += headerLine(SMTP_CORRELATION_HEADERS.contactId, contactId) + '\r\n';

  const parts: Part[] = [];
  if (msg.text !== '') parts.push(encodePart('text/plain; charset=utf-8', msg.text));
  if (msg.html !== undefined && msg.html !== '') parts.push(encodePart('text/html; charset=utf-8', msg.html));
  if (parts.length === 0) parts.push({ contentType: 'text/plain; charset=utf-8', encoding: '7bit', body: '' });

  const files = msg.attachments !== undefined && msg.attachments.length > 0;
  let body: string;
  if (parts.length === 1) {
    const [part] = parts as [Part];
    // before a multipart/mixed delimiter the CRLF belongs to the delimiter (RFC 2046), so a body's
    // own last line break needs one more there
    const end = part.body === '' || (!files && part.body.endsWith('\n')) ? '' : '\r\n';
    body = partHeaders(part) + part.body + end;
  } else {
    let boundary = randomBoundary();
    // 128 random bits will not turn up in the content, but a boundary that did would cut a part short
    while (parts.some((p) => p.body.includes(boundary))) boundary = randomBoundary();
    body = `Content-Type: multipart/alternative;\r\n boundary="${boundary}"\r\n\r\n`;
    for (const part of parts) body += `--${boundary}\r\n${partHeaders(part)}${part.body}\r\n`;
    body += `--${boundary}--\r\n`;
  }
  if (files) body = withAttachments(body, msg.attachments!);
  return Buffer.from(head + body, 'utf8');
}

/** The body entity and the files as multipart/mixed; each file base64 in 76-character lines. */
function withAttachments(body: string, files: readonly Attachment[]): string {
  let boundary = randomBoundary();
  while (body.includes(boundary)) boundary = randomBoundary();
  let out = `Content-Type: multipart/mixed;\r\n boundary="${boundary}"\r\n\r\n--${boundary}\r\n${body}`;
  if (!body.endsWith('\r\n')) out += '\r\n';
  for (const f of files) {
    // a header-safe name: no quotes, line breaks or non-ASCII to encode
    const name = f.filename.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'attachment';
    const type = /^[a-z]+\/[a-z0-9.+-]+$/i.test(f.contentType) ? f.contentType : 'application/octet-stream';
    const b64 = f.contentBase64.replace(/[^A-Za-z0-9+/=]/g, '');
    out +=
      `--${boundary}\r\nContent-Type: ${type}; name="${name}"\r\nContent-Transfer-Encoding: base64\r\n`
      + `Content-Disposition: attachment; filename="${name}"\r\n\r\n${b64.replace(/.{1,76}/g, '$&\r\n')}`;
  }
  return `${out}--${boundary}--\r\n`;
}
