/**
 * Compact signed tokens for tracking links (click, open, unsubscribe) and VERP bounce addresses.
 * Owns the token wire format and nothing else: no clock, no I/O (node:crypto HMAC is deterministic).
 * Invariant: a token verifies only if every byte is exactly what one of the secrets signed, and the
 * token string is the canonical base64url of those bytes (so no two strings verify as one token).
 *
 * Three formats, told apart by the version bits (6-7) of the first byte: version 0, one token per
 * link (`header | ledger | [linkIndex] | [sentAt] | [url] | mac`), no longer signed but accepted
 * because mail already sent carries it; version 1, one HMAC per message whose two 16-byte halves
 * are the `track` and `unsubscribe` tokens (signMessage); version 2, link tags for Liquid-built
 * URLs, bound to a campaign and link index, naming no recipient (signLink). MACs are truncated
 * HMAC-SHA256 (16 bytes, 9 for VERP so it fits an SMTP local part); tokens carry no expiry, so
 * secrets are rotated instead. Layouts: docs/rendering.md (Tokens); why one MAC per message, what
 * the unsigned path segments allow and why truncation is safe: docs/decisions/0002-tracking-tokens.md.
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
const UUID_GROUPS = '([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})';
const UUID_PAIR = new RegExp(`^${UUID_GROUPS}:${UUID_GROUPS}$`);
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
    // 'binary' (latin1) strings: node's one-shot hash returns them with less copying than a Buffer.
    outer.write(hash('sha256', inner.subarray(0, BLOCK + data.length), 'binary'), BLOCK, 32, 'latin1');
    return Buffer.from(hash('sha256', outer, 'binary'), 'latin1');
  };
}

/** Reads the ledger field at `pos`; returns [ledgerId, nextPos] or null when truncated. */
function readLedger(body: Buffer, pos: number, packed: boolean): [string, number] | null {
  if (packed) {
    if (body.length < pos + 32) return null;
    const hex = body.subarray(pos, pos + 32).toString('hex');
    const uuid = (h: string): string =>
      `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
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
  if (header === undefined || (header & VERSION_MASK) !== VERSION_MESSAGE || (header & ~MESSAGE_BITS) !== 0)
    return null;
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
  if (typeof token !== 'string' || token.length < 4 || token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token))
    return null;
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
    if (lastLedger === null || lastLedger.id !== ledgerId)
      lastLedger = { id: ledgerId, encoded: encodeLedger(ledgerId) };
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
    if (token.length > MAX_TOKEN_CHARS)
      throw new TypeError(`token would be ${token.length} characters (limit ${MAX_TOKEN_CHARS}): URL too long`);
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
      return {
        track: withMac(body, mac.subarray(0, MAC_LINK)),
        unsubscribe: withMac(body, mac.subarray(MAC_LINK, 2 * MAC_LINK)),
      };
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
      return withMac(
        signingKey(body).subarray(0, MAC_LINK),
        body.subarray(body.length - Buffer.byteLength(url, 'utf8')),
      );
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
