/**
 * VERP return paths (bounces.md §9): every message gets its own envelope sender
 * `<prefix>+<token>@<bounce domain>`, where the token carries the campaign and contact ids plus a
 * truncated HMAC, so a DSN, ARF or auto-reply maps back to one send-ledger row without trusting the
 * bounce body. Base32 keeps the token intact when an MTA lower-cases the local part. Pure: HMAC is
 * deterministic; the secret is a parameter.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SwitchyardError } from '../errors.ts';
import { createHmacSha256 } from '../tracking-token.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC_BYTES = 5; // 40 bits = 8 base32 chars: enough against guessing, short enough for 64-octet local parts
const MAC_CHARS = 8;
/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
const MAX_LOCAL_PART = 64;

export interface VerpIds {
  campaignId: string;
  contactId: string;
}
export interface VerpOptions {
  secret: string;
  /** The bounce domain, e.g. `bounce.example.com`. */
  domain: string;
  /** Local-part prefix before the `+`; default `b` (two UUIDs then still fit in 64 octets). */
  prefix?: string;
}
export type VerpDecodeResult =
  | { ok: true; campaignId: string; contactId: string }
  | { ok: false; reason: 'not_verp' | 'malformed' | 'bad_signature' };

const ALPHABET_CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));

function toBase32(bytes: Uint8Array): string {
  // Character codes first, one string at the end: about half the time of appending per character.
  const codes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = (buffer << 8) | (bytes[i] as number);
    bits += 8;
    while (bits >= 5) {
      codes.push(ALPHABET_CODES[(buffer >>> (bits - 5)) & 31] as number);
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) codes.push(ALPHABET_CODES[(buffer << (5 - bits)) & 31] as number);
  return String.fromCharCode(...codes);
}

function fromBase32(text: string): Uint8Array | null {
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 255);
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  return Uint8Array.from(out);
}

/** One id: a canonical lower-case UUID as 16 bytes, anything else as length-prefixed UTF-8. */
function packId(id: string): { isUuid: boolean; bytes: Buffer } {
  if (UUID.test(id)) return { isUuid: true, bytes: Buffer.from(id.replaceAll('-', ''), 'hex') };
  const utf8 = Buffer.from(id, 'utf8');
  if (utf8.length === 0 || utf8.length > 255) {
    throw new SwitchyardError('VALIDATION_FAILED', `VERP id must be 1–255 UTF-8 bytes, got ${utf8.length}`);
  }
  return { isUuid: false, bytes: Buffer.concat([Buffer.from([utf8.length]), utf8]) };
}

function unpackId(buf: Buffer, offset: number, isUuid: boolean): { id: string; next: number } | null {
  if (isUuid) {
    if (offset + 16 > buf.length) return null;
    const h = buf.subarray(offset, offset + 16).toString('hex');
    return {
      id: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
      next: offset + 16,
    };
  }
  const len = buf[offset];
  if (len === undefined || len === 0 || offset + 1 + len > buf.length) return null;
  return { id: buf.subarray(offset + 1, offset + 1 + len).toString('utf8'), next: offset + 1 + len };
}

function mac(secret: string, payload: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(payload).digest().subarray(0, MAC_BYTES);
}

/** The token alone: base32(flags + ids) + 8-char base32 HMAC. */
export function encodeVerpToken(ids: VerpIds, secret: string): string {
  const c = packId(ids.campaignId);
  const k = packId(ids.contactId);
  const payload = Buffer.concat([Buffer.from([(c.isUuid ? 1 : 0) | (k.isUuid ? 2 : 0)]), c.bytes, k.bytes]);
  return toBase32(payload) + toBase32(mac(secret, payload));
}

/**
 * encodeVerpAddress for many messages with one secret and domain (a campaign's send): the HMAC
 * key is prepared once and the last campaign id's packing is kept, so each address costs one
 * HMAC over the payload. Same addresses as encodeVerpAddress, byte for byte.
 */
export function createVerpEncoder(options: VerpOptions): (ids: VerpIds) => string {
  const sign = createHmacSha256(options.secret);
  const start = `${options.prefix ?? 'b'}+`;
  const suffix = `@${options.domain}`;
  let last: { id: string; packed: { isUuid: boolean; bytes: Buffer } } | null = null;
  return (ids) => {
    if (last === null || last.id !== ids.campaignId) last = { id: ids.campaignId, packed: packId(ids.campaignId) };
    const c = last.packed;
    const k = packId(ids.contactId);
    const payload = Buffer.allocUnsafe(1 + c.bytes.length + k.bytes.length);
    payload[0] = (c.isUuid ? 1 : 0) | (k.isUuid ? 2 : 0);
    c.bytes.copy(payload, 1);
    k.bytes.copy(payload, 1 + c.bytes.length);
    const local = start + toBase32(payload) + toBase32(sign(payload).subarray(0, MAC_BYTES));
    if (local.length > MAX_LOCAL_PART) {
      throw new SwitchyardError(
        'VALIDATION_FAILED',
        `VERP local part is ${local.length} octets (max ${MAX_LOCAL_PART}): use shorter ids or prefix`,
      );
    }
    return local + suffix;
  };
}

/** Verifies and unpacks a token (case-insensitive). */
export function decodeVerpToken(token: string, secret: string): VerpDecodeResult {
  const t = token.trim().toLowerCase();
  if (t.length <= MAC_CHARS) return { ok: false, reason: 'malformed' };
  const payload = fromBase32(t.slice(0, -MAC_CHARS));
  const given = fromBase32(t.slice(-MAC_CHARS));
  if (payload === null || given === null || payload.length < 1 || given.length !== MAC_BYTES)
    return { ok: false, reason: 'malformed' };
  // Re-encoding must reproduce the text exactly, so padding-bit variants do not verify.
  if (toBase32(payload) !== t.slice(0, -MAC_CHARS)) return { ok: false, reason: 'malformed' };
  if (!timingSafeEqual(mac(secret, payload), given)) return { ok: false, reason: 'bad_signature' };
  const buf = Buffer.from(payload);
  const flags = buf[0] ?? 0;
  if (flags > 3) return { ok: false, reason: 'malformed' };
  const campaign = unpackId(buf, 1, (flags & 1) === 1);
  const contact = campaign === null ? null : unpackId(buf, campaign.next, (flags & 2) === 2);
  if (campaign === null || contact === null || contact.next !== buf.length) return { ok: false, reason: 'malformed' };
  return { ok: true, campaignId: campaign.id, contactId: contact.id };
}

/** `<prefix>+<token>@<domain>`; throws VALIDATION_FAILED when the local part would exceed 64 octets. */
export function encodeVerpAddress(ids: VerpIds, options: VerpOptions): string {
  const local = `${options.prefix ?? 'b'}+${encodeVerpToken(ids, options.secret)}`;
  if (local.length > MAX_LOCAL_PART) {
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      `VERP local part is ${local.length} octets (max ${MAX_LOCAL_PART}): use shorter ids or prefix`,
    );
  }
  return `${local}@${options.domain}`;
}

/** The token in a VERP address (`prefix+token@domain`, optional angle brackets), or null. */
export function extractVerpToken(address: string, options: { prefix?: string; domain?: string } = {}): string | null {
  const m = /^<?\s*([^@\s<>]+)@([^@\s<>]+?)\s*>?$/.exec(address.trim());
  if (m === null) return null;
  const [, local = '', domain = ''] = m;
  if (options.domain !== undefined && domain.toLowerCase() !== options.domain.toLowerCase()) return null;
  const plus = local.indexOf('+');
  if (plus < 0) return null;
  if (options.prefix !== undefined && local.slice(0, plus).toLowerCase() !== options.prefix.toLowerCase()) return null;
  const token = local.slice(plus + 1);
  return token === '' ? null : token;
}

/** Decodes a full VERP address: not_verp when it has no token for this prefix/domain. */
export function decodeVerpAddress(address: string, options: VerpOptions): VerpDecodeResult {
  const token = extractVerpToken(address, { prefix: options.prefix ?? 'b', domain: options.domain });
  if (token === null) return { ok: false, reason: 'not_verp' };
  return decodeVerpToken(token, options.secret);
}
