/**
 * Compact signed tokens for tracking links (click, open, unsubscribe) and VERP bounce addresses.
 * Owns the token wire format and nothing else: no clock, no I/O (node:crypto HMAC is deterministic).
 * Invariant: a token verifies only if every byte is exactly what one of the secrets signed, and the
 * token string is the canonical base64url of those bytes (so no two strings verify as one token).
 *
 * Two formats, told apart by the version bits of the first byte (base64url, no padding):
 *
 * Version 0, one token per link, `header | ledger | [linkIndex] | [sentAt] | [url] | mac`:
 *   header   1 byte: bits 0-1 kind (c=0 o=1 u=2 b=3), bit 2 ledger packed as two UUIDs,
 *            bit 3 linkIndex present, bit 4 url present, bit 5 sentAt present, bits 6-7 version (0).
 *   ledger   32 bytes when `<uuid>:<uuid>` in canonical lower case, else varint length + UTF-8.
 *   linkIdx  varint.   sentAt  varint, unix seconds.   url  the remaining bytes, UTF-8 (last, no length).
 *   mac      HMAC-SHA256(secret, everything before it), truncated: 16 bytes for links, 9 for 'b'.
 * No longer signed by the renderer (Liquid-built links use link tags, VERP uses core/bounce/verp.ts),
 * but still accepted everywhere: tokens already sent in emails must keep working.
 *
 * Version 1, one token per message (signMessage), `header | ledger | [sentAt] | mac`:
 *   header   1 byte: bits 6-7 = 01, bit 2 ledger packed, bit 5 sentAt present; every other bit 0.
 *   mac      16 bytes: ONE HMAC-SHA256 over the body per message gives two independent 128-bit tags
 *            (halves of one PRF output): bytes 0-15 for the `track` token, 16-31 for `unsubscribe`.
 * The message's open pixel (`/t/o/<track>`), every static link (`/t/c/<track>/<linkIndex>`) and
 * its unsubscribe URLs and mailto subject (`<unsubscribe>`) use these two strings, so rendering
 * costs one HMAC instead of one per link (an HMAC was ~2.7 µs, ~13 % of a blast's CPU).
 * What the token is used for (open or click, which link) is given by the URL path, not signed.
 * That is acceptable because whoever holds the message holds all its links anyway, and a changed
 * linkIndex can only name another static link of the same campaign's template (the endpoint
 * resolves it there, so no destination outside the template is reachable). Unsubscribing is kept
 * apart on purpose: it changes state, and single links travel without their message (a shared or
 * forwarded link, a pixel fetched by an image proxy), so a track token cannot unsubscribe anyone.
 *
 * Link tags (version 2 in the signed body; signLink), for links whose URL holds Liquid, rendered
 * as `/t/c/<track>/<linkIndex>/<link tag>` with `<link tag>` = base64url(`mac | url`):
 *   mac      16 bytes, HMAC-SHA256(secret, `0x80 | varint len | campaignId UTF-8 | varint linkIndex
 *            | url UTF-8`), truncated.   url  the destination, UTF-8 (the rest of the bytes).
 * The tag names no recipient, so one tag serves every recipient whose rendered href is the same
 * URL (the renderer keeps tags per campaign: `?plan={{ contact.plan }}` costs one HMAC per plan,
 * not one per message). The recipient, sentAt and campaign come from the message's `track`
 * token beside it; the endpoint verifies both and recomputes the tag over the track token's
 * campaign id and the path's link index, so a tag is accepted only with a track token of the
 * campaign it was made for, for the link index it was made for, and it redirects only to the URL
 * it signed: a URL that this campaign's template really produced for that link for some
 * recipient. What mixing pieces can still do is what a track token allows anyway: whoever holds
 * message A's track token and a tag from message B (same campaign) can record a click on A for
 * one of the campaign's own destinations, as they already can with A's static links. The header
 * byte's version bits (10) keep tag bodies apart from version 0 and 1 bodies (00, 01) and from
 * VERP payloads (first byte 0-3) signed with the same secret, so no MAC of one format is a MAC of
 * another. Version-0 click tokens stay valid for mail sent before link tags.
 *
 * HMAC-SHA256 here is RFC 2104 over node:crypto's one-shot `hash()` with the key's pads prepared
 * once per codec (createHmacSha256): the same bytes as createHmac, at under half its cost, since
 * a Hmac object per call is mostly stream set-up. Verifying uses the same function.
 *
 * Why truncate: a 128-bit tag can only be attacked by online guessing against our endpoints
 * (2^128 tries), so the full 256 bits would only add 22 characters to every link in every email.
 * VERP tokens live in an SMTP local part (RFC 5321: at most 64 octets, `bounces+` included), so
 * they keep 72 bits: a forged bounce address still needs ~2^71 online guesses, and bounce mail
 * with an unknown token is quarantined, not acted on. Tokens carry no expiry: unsubscribe links
 * must keep working for at least 30 days (CAN-SPAM) / 60 days (CASL); rotate secrets to expire.
 */
import { hash, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'c' | 'o' | 'u' | 'b';

export interface TokenPayload {
  /** c = click, o = open pixel, u = unsubscribe, b = bounce (VERP return path). */
  kind: TokenKind;
  /** The send-ledger row: `<campaignId>:<contactId>`. */
  ledgerId: string;
  /** Click tokens: the destination (http/https only). */
  url?: string;
  /** Click tokens: position of the link in the template, for per-link reporting. */
  linkIndex?: number;
  /** Click/open tokens: when the message was sent (unix seconds), so the tracking endpoint can
   *  tell scanner clicks and prefetch opens seconds after delivery (esp.md §7) without a lookup. */
  sentAt?: number;
}

/** What a per-message (version 1) token carries. */
export interface MessageTokenPayload {
  /** The send-ledger row: `<campaignId>:<contactId>`. */
  ledgerId: string;
  /** When the message was sent (unix seconds), for scanner and prefetch detection. */
  sentAt?: number;
}

/** The two strings one message signature yields: `track` for the open pixel and static links,
 *  `unsubscribe` for the unsubscribe URLs and the mailto subject. Neither passes as the other. */
export interface MessageTokens {
  track: string;
  unsubscribe: string;
}

export type MessageTokenUse = keyof MessageTokens;

/** A signer bound to a list of secrets; the first signs, all verify (key rotation). */
export interface TokenCodec {
  /** A version-0 token (one HMAC each). */
  sign(payload: TokenPayload): string;
  /** The payload of a version-0 token, or null (a version-1 token is null here too). */
  verify(token: string): TokenPayload | null;
  /** Both tokens of one message for one HMAC. */
  signMessage(payload: MessageTokenPayload): MessageTokens;
  /** The payload when `token` is the `use` token of a message some secret signed, else null. */
  verifyMessage(token: string, use: MessageTokenUse): MessageTokenPayload | null;
  /** The link tag for `url` as link `linkIndex` of campaign `campaignId` (one HMAC; the caller
   *  keeps it per campaign). Throws TypeError for a bad linkIndex or an over-long URL. */
  signLink(campaignId: string, linkIndex: number, url: string): string;
  /** The URL when some secret signed `tag` for exactly this campaign and link index, else null. */
  verifyLink(tag: string, campaignId: string, linkIndex: number): string | null;
}

const KIND_CODES: Record<TokenKind, number> = { c: 0, o: 1, u: 2, b: 3 };
const KINDS: readonly TokenKind[] = ['c', 'o', 'u', 'b'];
const FLAG_UUIDS = 0b100;
const FLAG_LINK = 0b1000;
const FLAG_URL = 0b10000;
const FLAG_SENT_AT = 0b100000;
const VERSION_MASK = 0b11000000;
const VERSION_MESSAGE = 0b01000000;
const VERSION_LINK_TAG = 0b10000000;
/** Bits a version-1 header may set; any other bit makes the token malformed. */
const MESSAGE_BITS = VERSION_MASK | FLAG_UUIDS | FLAG_SENT_AT;
const MAC_LINK = 16;
const MAC_BOUNCE = 9;
const UUID_PAIR = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12}):([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Longest token either side accepts (a ~12 kB URL); longer is refused when signing. */
const MAX_TOKEN_CHARS = 16384;

function macLength(kind: TokenKind): number {
  return kind === 'b' ? MAC_BOUNCE : MAC_LINK;
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Reads a varint at `pos`; returns [value, nextPos] or null when truncated or absurdly long. */
function readVarint(buf: Buffer, pos: number, end: number): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < end && i < pos + 5; i++) {
    const byte = buf[i] as number;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  return null;
}

/** The ledger field's bytes (packed UUID pair or varint length + UTF-8) and whether packed. */
function encodeLedger(ledgerId: string): { bytes: Buffer; packed: boolean } {
  const uuids = UUID_PAIR.exec(ledgerId);
  if (uuids !== null) return { bytes: Buffer.from(uuids.slice(1).join(''), 'hex'), packed: true };
  const length = Buffer.byteLength(ledgerId, 'utf8');
  const len: number[] = [];
  pushVarint(len, length);
  const bytes = Buffer.allocUnsafe(len.length + length);
  for (let i = 0; i < len.length; i++) bytes[i] = len[i] as number;
  bytes.write(ledgerId, len.length, 'utf8');
  return { bytes, packed: false };
}

function checkSentAt(sentAt: number): void {
  if (!Number.isSafeInteger(sentAt) || sentAt < 0 || sentAt > 2 ** 34) {
    throw new TypeError(`sentAt must be unix seconds, got ${sentAt}`);
  }
}

/** Builds the signed body; `ledger` is passed in so one recipient's tokens encode it once. */
function encodeBody(p: TokenPayload, ledger: { bytes: Buffer; packed: boolean }): Buffer {
  if (!(p.kind in KIND_CODES)) throw new TypeError(`token kind must be c, o, u or b, got ${String(p.kind)}`);
  let header = KIND_CODES[p.kind] | (ledger.packed ? FLAG_UUIDS : 0);
  const numbers: number[] = [];
  if (p.linkIndex !== undefined) {
    checkLinkIndex(p.linkIndex);
    header |= FLAG_LINK;
    pushVarint(numbers, p.linkIndex);
  }
  if (p.sentAt !== undefined) {
    checkSentAt(p.sentAt);
    header |= FLAG_SENT_AT;
    pushVarint(numbers, p.sentAt);
  }
  if (p.url !== undefined) header |= FLAG_URL;
  const urlLength = p.url === undefined ? 0 : Buffer.byteLength(p.url, 'utf8');
  const body = Buffer.allocUnsafe(1 + ledger.bytes.length + numbers.length + urlLength);
  body[0] = header;
  ledger.bytes.copy(body, 1);
  let pos = 1 + ledger.bytes.length;
  for (const n of numbers) body[pos++] = n;
  if (p.url !== undefined) body.write(p.url, pos, 'utf8');
  return body;
}

/** Builds a version-1 body: header, ledger, optional sentAt. */
function encodeMessageBody(p: MessageTokenPayload, ledger: { bytes: Buffer; packed: boolean }): Buffer {
  const numbers: number[] = [];
  if (p.sentAt !== undefined) {
    checkSentAt(p.sentAt);
    pushVarint(numbers, p.sentAt);
  }
  const body = Buffer.allocUnsafe(1 + ledger.bytes.length + numbers.length);
  body[0] = VERSION_MESSAGE | (ledger.packed ? FLAG_UUIDS : 0) | (p.sentAt !== undefined ? FLAG_SENT_AT : 0);
  ledger.bytes.copy(body, 1);
  let pos = 1 + ledger.bytes.length;
  for (const n of numbers) body[pos++] = n;
  return body;
}

function isLinkIndex(linkIndex: number): boolean {
  return Number.isSafeInteger(linkIndex) && linkIndex >= 0 && linkIndex <= 0xfffffff;
}

function checkLinkIndex(linkIndex: number): void {
  if (!isLinkIndex(linkIndex)) {
    throw new TypeError(`linkIndex must be a small non-negative integer, got ${linkIndex}`);
  }
}

/** The signed body of a link tag: version-2 header, campaign id (varint length + UTF-8), link
 *  index, URL. Every field but the last has its length, so no two inputs share a body. */
function encodeLinkTagBody(campaignId: string, linkIndex: number, url: string): Buffer {
  const numbers: number[] = [VERSION_LINK_TAG];
  const campaign = Buffer.from(campaignId, 'utf8');
  pushVarint(numbers, campaign.length);
  const index: number[] = [];
  pushVarint(index, linkIndex);
  const urlLength = Buffer.byteLength(url, 'utf8');
  const body = Buffer.allocUnsafe(numbers.length + campaign.length + index.length + urlLength);
  let pos = 0;
  for (const n of numbers) body[pos++] = n;
  pos += campaign.copy(body, pos);
  for (const n of index) body[pos++] = n;
  body.write(url, pos, 'utf8');
  return body;
}

/** HMAC-SHA256 with one key: `(data) => mac`, the same 32 bytes as
 *  `createHmac('sha256', key).update(data).digest()`. RFC 2104 over one-shot hashes, the padded
 *  keys prepared once. Not re-entrant across awaits (there are none: it is synchronous). */
export function createHmacSha256(key: string | Buffer): (data: Uint8Array) => Buffer {
  const BLOCK = 64;
  let k = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  if (k.length > BLOCK) k = hash('sha256', k, 'buffer');
  let inner = Buffer.alloc(BLOCK + 256);
  const outer = Buffer.alloc(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    const byte = k[i] ?? 0;
    inner[i] = byte ^ 0x36;
    outer[i] = byte ^ 0x5c;
  }
  return (data) => {
    if (inner.length < BLOCK + data.length) {
      const grown = Buffer.alloc(BLOCK + data.length * 2);
      inner.copy(grown, 0, 0, BLOCK);
      inner = grown;
    }
    inner.set(data, BLOCK);
    // 'binary' (latin1) strings: node's one-shot hash returns them faster than a Buffer.
    outer.write(hash('sha256', inner.subarray(0, BLOCK + data.length), 'binary'), BLOCK, 32, 'latin1');
    return Buffer.from(hash('sha256', outer, 'binary'), 'latin1');
  };
}

/** Reads the ledger field at `pos`; returns [ledgerId, nextPos] or null when truncated. */
function readLedger(body: Buffer, pos: number, packed: boolean): [string, number] | null {
  if (packed) {
    if (body.length < pos + 32) return null;
    const hex = body.subarray(pos, pos + 32).toString('hex');
    const uuid = (h: string): string => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    return [`${uuid(hex.slice(0, 32))}:${uuid(hex.slice(32))}`, pos + 32];
  }
  const len = readVarint(body, pos, body.length);
  if (len === null || len[1] + len[0] > body.length) return null;
  return [body.subarray(len[1], len[1] + len[0]).toString('utf8'), len[1] + len[0]];
}

function decodeBody(body: Buffer): TokenPayload | null {
  const header = body[0];
  if (header === undefined || (header & VERSION_MASK) !== 0) return null;
  const kind = KINDS[header & 0b11] as TokenKind;
  const ledger = readLedger(body, 1, (header & FLAG_UUIDS) !== 0);
  if (ledger === null) return null;
  let pos = ledger[1];
  const payload: TokenPayload = { kind, ledgerId: ledger[0] };
  if ((header & FLAG_LINK) !== 0) {
    const idx = readVarint(body, pos, body.length);
    if (idx === null) return null;
    payload.linkIndex = idx[0];
    pos = idx[1];
  }
  if ((header & FLAG_SENT_AT) !== 0) {
    const at = readVarint(body, pos, body.length);
    if (at === null) return null;
    payload.sentAt = at[0];
    pos = at[1];
  }
  if ((header & FLAG_URL) !== 0) {
    payload.url = body.subarray(pos).toString('utf8');
    pos = body.length;
  }
  return pos === body.length ? payload : null;
}

function decodeMessageBody(body: Buffer): MessageTokenPayload | null {
  const header = body[0];
  if (header === undefined || (header & VERSION_MASK) !== VERSION_MESSAGE || (header & ~MESSAGE_BITS) !== 0) return null;
  const ledger = readLedger(body, 1, (header & FLAG_UUIDS) !== 0);
  if (ledger === null) return null;
  const payload: MessageTokenPayload = { ledgerId: ledger[0] };
  let pos = ledger[1];
  if ((header & FLAG_SENT_AT) !== 0) {
    const at = readVarint(body, pos, body.length);
    if (at === null) return null;
    payload.sentAt = at[0];
    pos = at[1];
  }
  return pos === body.length ? payload : null;
}

/** The token's bytes when it is a canonical base64url string within limits, else null. */
function canonicalBytes(token: string): Buffer | null {
  if (typeof token !== 'string' || token.length < 4 || token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) return null;
  const raw = Buffer.from(token, 'base64url');
  // Reject non-canonical spellings (spare low bits in the last character): one token, one string.
  return raw.toString('base64url') === token ? raw : null;
}

type Mac = (data: Uint8Array) => Buffer;

function toKeys(secrets: string | readonly string[]): Mac[] {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0 || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError('tracking secrets must be a non-empty list of non-empty strings');
  }
  return list.map((s) => createHmacSha256(s));
}

/** Builds a codec once (per campaign or per server) so each token costs one HMAC. */
export function createTokenCodec(secrets: string | readonly string[]): TokenCodec {
  const keys = toKeys(secrets);
  const signingKey = keys[0] as Mac;
  // One recipient's tokens share a ledgerId: remember the last one's encoding (per codec).
  let lastLedger: { id: string; encoded: { bytes: Buffer; packed: boolean } } | null = null;
  const ledgerBytes = (ledgerId: string): { bytes: Buffer; packed: boolean } => {
    if (lastLedger === null || lastLedger.id !== ledgerId) lastLedger = { id: ledgerId, encoded: encodeLedger(ledgerId) };
    return lastLedger.encoded;
  };
  /** True when some key's HMAC of `body`, bytes [from, from + mac.length), equals `mac`. */
  const anyKeySigned = (body: Buffer, mac: Buffer, from: number): boolean => {
    let ok = false;
    for (const key of keys) {
      const expected = key(body).subarray(from, from + mac.length);
      // Check every key (no early exit) so timing does not reveal which key matched.
      if (timingSafeEqual(expected, mac)) ok = true;
    }
    return ok;
  };
  const withMac = (body: Buffer, mac: Buffer): string => {
    const token = Buffer.concat([body, mac], body.length + mac.length).toString('base64url');
    if (token.length > MAX_TOKEN_CHARS) throw new TypeError(`token would be ${token.length} characters (limit ${MAX_TOKEN_CHARS}): URL too long`);
    return token;
  };
  return {
    sign(payload) {
      const body = encodeBody(payload, ledgerBytes(payload.ledgerId));
      return withMac(body, signingKey(body).subarray(0, macLength(payload.kind)));
    },
    verify(token) {
      const raw = canonicalBytes(token);
      const header = raw?.[0];
      if (raw === null || header === undefined || (header & VERSION_MASK) !== 0) return null;
      const macLen = macLength(KINDS[header & 0b11] as TokenKind);
      if (raw.length <= macLen + 1) return null;
      const body = raw.subarray(0, raw.length - macLen);
      return anyKeySigned(body, raw.subarray(raw.length - macLen), 0) ? decodeBody(body) : null;
    },
    signMessage(payload) {
      const body = encodeMessageBody(payload, ledgerBytes(payload.ledgerId));
      const mac = signingKey(body);
      return { track: withMac(body, mac.subarray(0, MAC_LINK)), unsubscribe: withMac(body, mac.subarray(MAC_LINK, 2 * MAC_LINK)) };
    },
    verifyMessage(token, use) {
      const raw = canonicalBytes(token);
      if (raw === null || raw.length <= MAC_LINK + 1) return null;
      const body = raw.subarray(0, raw.length - MAC_LINK);
      // Decode first: a malformed body costs no HMAC.
      const payload = decodeMessageBody(body);
      if (payload === null) return null;
      const from = use === 'unsubscribe' ? MAC_LINK : use === 'track' ? 0 : -1;
      if (from < 0) return null;
      return anyKeySigned(body, raw.subarray(raw.length - MAC_LINK), from) ? payload : null;
    },
    signLink(campaignId, linkIndex, url) {
      checkLinkIndex(linkIndex);
      const body = encodeLinkTagBody(campaignId, linkIndex, url);
      return withMac(signingKey(body).subarray(0, MAC_LINK), body.subarray(body.length - Buffer.byteLength(url, 'utf8')));
    },
    verifyLink(tag, campaignId, linkIndex) {
      const raw = canonicalBytes(tag);
      if (raw === null || raw.length <= MAC_LINK || !isLinkIndex(linkIndex)) return null;
      const url = raw.subarray(MAC_LINK).toString('utf8');
      const body = encodeLinkTagBody(campaignId, linkIndex, url);
      return anyKeySigned(body, raw.subarray(0, MAC_LINK), 0) ? url : null;
    },
  };
}

/** Label the preview secrets are derived under; changing it invalidates nothing that was sent. */
const PREVIEW_LABEL = Buffer.from('switchyard preview tokens v1', 'utf8');

/**
 * The secrets a preview signs with: HMAC(secret, label) for each tracking secret, same order.
 * A preview must show links shaped like the real ones, but whoever can preview a campaign for a
 * contact id must not get working unsubscribe or click links for that contact. Tokens signed
 * with a derived key never verify under the tracking secrets themselves (a different HMAC key),
 * and the tracking routes verify them under these only to answer TRACKING_PREVIEW_TOKEN.
 */
export function previewSecrets(secrets: string | readonly string[]): string[] {
  const list = typeof secrets === 'string' ? [secrets] : [...secrets];
  if (list.length === 0 || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError('tracking secrets must be a non-empty list of non-empty strings');
  }
  return list.map((s) => `preview:${createHmacSha256(s)(PREVIEW_LABEL).toString('base64url')}`);
}

/** Signs with the first secret. Prefer createTokenCodec when signing many tokens. */
export function signToken(secrets: string | readonly string[], payload: TokenPayload): string {
  return createTokenCodec(secrets).sign(payload);
}

/** The payload when any of the secrets signed exactly this token, else null. Constant-time compare. */
export function verifyToken(secrets: string | readonly string[], token: string): TokenPayload | null {
  return createTokenCodec(secrets).verify(token);
}
