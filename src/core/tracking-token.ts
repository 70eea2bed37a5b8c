/**
 * Compact signed tokens for tracking links (click, open, unsubscribe) and VERP bounce addresses.
 * Owns the token wire format and nothing else: no clock, no I/O (node:crypto HMAC is deterministic).
 * Invariant: a token verifies only if every byte is exactly what one of the secrets signed, and the
 * token string is the canonical base64url of those bytes (so no two strings verify as one token).
 *
 * Layout (base64url, no padding) of `header | ledger | [linkIndex] | [url] | mac`:
 *   header   1 byte: bits 0-1 kind (c=0 o=1 u=2 b=3), bit 2 ledger packed as two UUIDs,
 *            bit 3 linkIndex present, bit 4 url present, bit 5 sentAt present, bits 6-7 version (0).
 *   ledger   32 bytes when `<uuid>:<uuid>` in canonical lower case, else varint length + UTF-8.
 *   linkIdx  varint.   sentAt  varint, unix seconds.   url  the remaining bytes, UTF-8 (last, no length).
 *   mac      HMAC-SHA256(secret, everything before it), truncated: 16 bytes for links, 9 for 'b'.
 * Why truncate: a 128-bit tag can only be attacked by online guessing against our endpoints
 * (2^128 tries), so the full 256 bits would only add 22 characters to every link in every email.
 * VERP tokens live in an SMTP local part (RFC 5321: at most 64 octets, `bounces+` included), so
 * they keep 72 bits: a forged bounce address still needs ~2^71 online guesses, and bounce mail
 * with an unknown token is quarantined, not acted on. Tokens carry no expiry: unsubscribe links
 * must keep working for at least 30 days (CAN-SPAM) / 60 days (CASL); rotate secrets to expire.
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

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

/** A signer bound to a list of secrets; the first signs, all verify (key rotation). */
export interface TokenCodec {
  sign(payload: TokenPayload): string;
  verify(token: string): TokenPayload | null;
}

const KIND_CODES: Record<TokenKind, number> = { c: 0, o: 1, u: 2, b: 3 };
const KINDS: readonly TokenKind[] = ['c', 'o', 'u', 'b'];
const FLAG_UUIDS = 0b100;
const FLAG_LINK = 0b1000;
const FLAG_URL = 0b10000;
const FLAG_SENT_AT = 0b100000;
const VERSION_MASK = 0b11000000;
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
  const utf8 = Buffer.from(ledgerId, 'utf8');
  const len: number[] = [];
  pushVarint(len, utf8.length);
  return { bytes: Buffer.concat([Buffer.from(len), utf8]), packed: false };
}

/** Builds the signed body; `ledger` is passed in so one recipient's tokens encode it once. */
function encodeBody(p: TokenPayload, ledger: { bytes: Buffer; packed: boolean }): Buffer {
  if (!(p.kind in KIND_CODES)) throw new TypeError(`token kind must be c, o, u or b, got ${String(p.kind)}`);
  let header = KIND_CODES[p.kind] | (ledger.packed ? FLAG_UUIDS : 0);
  const numbers: number[] = [];
  if (p.linkIndex !== undefined) {
    if (!Number.isSafeInteger(p.linkIndex) || p.linkIndex < 0 || p.linkIndex > 0xfffffff) {
      throw new TypeError(`linkIndex must be a small non-negative integer, got ${p.linkIndex}`);
    }
    header |= FLAG_LINK;
    pushVarint(numbers, p.linkIndex);
  }
  if (p.sentAt !== undefined) {
    if (!Number.isSafeInteger(p.sentAt) || p.sentAt < 0 || p.sentAt > 2 ** 34) {
      throw new TypeError(`sentAt must be unix seconds, got ${p.sentAt}`);
    }
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

function decodeBody(body: Buffer): TokenPayload | null {
  const header = body[0];
  if (header === undefined || (header & VERSION_MASK) !== 0) return null;
  const kind = KINDS[header & 0b11] as TokenKind;
  let pos = 1;
  let ledgerId: string;
  if ((header & FLAG_UUIDS) !== 0) {
    if (body.length < pos + 32) return null;
    const hex = body.subarray(pos, pos + 32).toString('hex');
    const uuid = (h: string): string => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    ledgerId = `${uuid(hex.slice(0, 32))}:${uuid(hex.slice(32))}`;
    pos += 32;
  } else {
    const len = readVarint(body, pos, body.length);
    if (len === null || len[1] + len[0] > body.length) return null;
    ledgerId = body.subarray(len[1], len[1] + len[0]).toString('utf8');
    pos = len[1] + len[0];
  }
  const payload: TokenPayload = { kind, ledgerId };
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

function toKeys(secrets: string | readonly string[]): KeyObject[] {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0 || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError('tracking secrets must be a non-empty list of non-empty strings');
  }
  return list.map((s) => createSecretKey(Buffer.from(s, 'utf8')));
}

/** Builds a codec once (per campaign or per server) so each token costs one HMAC. */
export function createTokenCodec(secrets: string | readonly string[]): TokenCodec {
  const keys = toKeys(secrets);
  const signingKey = keys[0] as KeyObject;
  // One recipient's tokens share a ledgerId: remember the last one's encoding (per codec).
  let lastLedger: { id: string; encoded: { bytes: Buffer; packed: boolean } } | null = null;
  return {
    sign(payload) {
      if (lastLedger === null || lastLedger.id !== payload.ledgerId) {
        lastLedger = { id: payload.ledgerId, encoded: encodeLedger(payload.ledgerId) };
      }
      const body = encodeBody(payload, lastLedger.encoded);
      const mac = createHmac('sha256', signingKey).update(body).digest().subarray(0, macLength(payload.kind));
      const token = Buffer.concat([body, mac], body.length + mac.length).toString('base64url');
      if (token.length > MAX_TOKEN_CHARS) throw new TypeError(`token would be ${token.length} characters (limit ${MAX_TOKEN_CHARS}): URL too long`);
      return token;
    },
    verify(token) {
      if (typeof token !== 'string' || token.length < 4 || token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) return null;
      const raw = Buffer.from(token, 'base64url');
      // Reject non-canonical spellings (spare low bits in the last character): one token, one string.
      if (raw.toString('base64url') !== token) return null;
      const header = raw[0];
      if (header === undefined) return null;
      const macLen = macLength(KINDS[header & 0b11] as TokenKind);
      if (raw.length <= macLen + 1) return null;
      const body = raw.subarray(0, raw.length - macLen);
      const mac = raw.subarray(raw.length - macLen);
      let ok = false;
      for (const key of keys) {
        const expected = createHmac('sha256', key).update(body).digest().subarray(0, macLen);
        // Check every key (no early exit) so timing does not reveal which key matched.
        if (timingSafeEqual(expected, mac)) ok = true;
      }
      return ok ? decodeBody(body) : null;
    },
  };
}

/** Signs with the first secret. Prefer createTokenCodec when signing many tokens. */
export function signToken(secrets: string | readonly string[], payload: TokenPayload): string {
  return createTokenCodec(secrets).sign(payload);
}

/** The payload when any of the secrets signed exactly this token, else null. Constant-time compare. */
export function verifyToken(secrets: string | readonly string[], token: string): TokenPayload | null {
  return createTokenCodec(secrets).verify(token);
}
