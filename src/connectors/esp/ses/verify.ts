/**
 * Verifies an Amazon SNS HTTPS delivery carrying SES events (esp.md §5): header/body agreement,
 * TopicArn allowlist, SigningCertURL shape (https, sns.<region>.amazonaws.com, .pem), certificate
 * trust, then the RSA signature over SNS's canonical string (SignatureVersion 1 = SHA1, 2 = SHA256).
 * The certificate comes from an injected loader, so tests and the CLI run offline; the loader in
 * production fetches over HTTPS and should cache by URL. A SubscriptionConfirmation that verifies
 * returns its SubscribeURL; confirming (an HTTP GET) is the caller's job via confirmSubscription.
 * Never throws: every failure is a result naming what failed.
 */
import { headerValue } from '../../webhook-headers.ts';
import { X509Certificate, verify as verifySignature } from 'node:crypto';
import type { VerifyResult, WebhookInput } from '../../webhook-port.ts';

/** SNS retries keep the original Timestamp, so age is unbounded by default; the future is not. */
export const MAX_FUTURE_SKEW_SECONDS = 15 * 60;
export const SNS_CERT_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;
const SNS_CERT_NAME = /^sns(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$/;
const MESSAGE_TYPES = ['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation'] as const;
const NOTIFICATION_KEYS = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const;
const CONFIRMATION_KEYS = ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const;

export interface SesKeys {
  /** Returns the PEM at a (host-checked) SigningCertURL. Production: HTTPS fetch + cache. */
  certificates(certUrl: string): Promise<string>;
  /** Only messages from these topics are accepted: anyone can point their own topic at our URL. */
  topicArns: readonly string[];
  /** When set, the signing certificate must be one of these (compared by SHA-256 fingerprint). */
  trustedCertificates?: readonly string[];
  /** When set, the signing certificate must be issued and signed by one of these CAs. */
  trustedCas?: readonly string[];
  /** Host rule for SigningCertURL and SubscribeURL; default sns.<region>.amazonaws.com(.cn). */
  certHostPattern?: RegExp;
  /** Max age of the SNS Timestamp in seconds; default: not checked (MessageId dedup covers replays). */
  toleranceSeconds?: number;
}

export type SnsEnvelope = Record<string, unknown> & { Type: string; MessageId: string };

function fail(
  code: 'WEBHOOK_SIGNATURE_INVALID' | 'WEBHOOK_PAYLOAD_INVALID' | 'WEBHOOK_STALE',
  reason: string,
): VerifyResult {
  return { ok: false, code, reason };
}

/** Checks a SigningCertURL / SubscribeURL: https, an SNS host, and (for certs) a .pem path. */
export function checkSnsUrl(raw: unknown, what: string, pattern: RegExp, mustBePem: boolean): string | undefined {
  if (typeof raw !== 'string') return `missing ${what}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${what} is not a URL`;
  }
  if (url.protocol !== 'https:') return `${what} must be https, got ${url.protocol}`;
  if (!pattern.test(url.hostname)) return `${what} host ${url.hostname} is not an SNS host`;
  if (mustBePem && !url.pathname.endsWith('.pem')) return `${what} path does not end in .pem`;
  return undefined;
}

/** SNS's canonical string: `key\nvalue\n` for each listed key present, in this order. */
export function snsStringToSign(msg: Record<string, unknown>): string {
  const keys = msg['Type'] === 'Notification' ? NOTIFICATION_KEYS : CONFIRMATION_KEYS;
  let out = '';
  for (const k of keys) {
    const v = msg[k];
    if (typeof v === 'string') out += `${k}\n${v}\n`;
  }
  return out;
}

function certNames(cert: X509Certificate): string[] {
  const cn = /(?:^|\n|,\s*)CN=([^\n,]+)/.exec(cert.subject)?.[1];
  const sans = (cert.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return [...new Set([...(cn ? [cn] : []), ...sans])];
}

/** Returns why the certificate is not trusted, or undefined when it is. */
function untrustedReason(cert: X509Certificate, keys: SesKeys, now: Date): string | undefined {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
    return `cert not trusted: valid ${cert.validFrom} to ${cert.validTo}, now is ${now.toISOString()}`;
  }
  const names = certNames(cert);
  if (!names.some((n) => SNS_CERT_NAME.test(n)))
    return `cert not trusted: not issued for SNS (names: ${names.join(', ') || 'none'})`;
  if (keys.trustedCertificates && keys.trustedCertificates.length > 0) {
    const pinned = keys.trustedCertificates.map((pem) => new X509Certificate(pem).fingerprint256);
    if (!pinned.includes(cert.fingerprint256)) return 'cert not trusted: not one of the pinned SNS certificates';
  }
  if (keys.trustedCas && keys.trustedCas.length > 0) {
    const issued = keys.trustedCas.some((pem) => {
      const ca = new X509Certificate(pem);
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    });
    if (!issued) return 'cert not trusted: not issued by a trusted CA';
  }
  return undefined;
}

function parseEnvelope(input: WebhookInput): SnsEnvelope | string {
  const text = typeof input.body === 'string' ? input.body : input.body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `body is not JSON (${(err as Error).message})`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return 'body is not an SNS message object';
  const m = parsed as Record<string, unknown>;
  if (typeof m['Type'] !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(m['Type'])) {
    return `SNS Type must be one of ${MESSAGE_TYPES.join(', ')}, got ${JSON.stringify(m['Type'])}`;
  }
  if (typeof m['MessageId'] !== 'string') return 'SNS message has no MessageId';
  return m as SnsEnvelope;
}

export async function verify(input: WebhookInput, keys: SesKeys, now: Date): Promise<VerifyResult> {
  const msg = parseEnvelope(input);
  if (typeof msg === 'string') return fail('WEBHOOK_PAYLOAD_INVALID', msg);
  const typeHeader = headerValue(input.headers, 'x-amz-sns-message-type');
  if (!typeHeader) return fail('WEBHOOK_SIGNATURE_INVALID', 'missing header x-amz-sns-message-type');
  if (typeHeader !== msg.Type)
    return fail(
      'WEBHOOK_SIGNATURE_INVALID',
      `header x-amz-sns-message-type ${typeHeader} does not match body Type ${msg.Type}`,
    );
  const idHeader = headerValue(input.headers, 'x-amz-sns-message-id');
  if (!idHeader) return fail('WEBHOOK_SIGNATURE_INVALID', 'missing header x-amz-sns-message-id');
  if (idHeader !== msg.MessageId)
    return fail('WEBHOOK_SIGNATURE_INVALID', 'header x-amz-sns-message-id does not match body MessageId');
  const topic = msg['TopicArn'];
  if (typeof topic !== 'string') return fail('WEBHOOK_PAYLOAD_INVALID', 'SNS message has no TopicArn');
  if (!keys.topicArns.includes(topic)) {
    return fail(
      'WEBHOOK_SIGNATURE_INVALID',
      `TopicArn ${topic} is not on the allowlist${keys.topicArns.length === 0 ? ' (none configured)' : ''}`,
    );
  }
  const pattern = keys.certHostPattern ?? SNS_CERT_HOST;
  const badUrl = checkSnsUrl(msg['SigningCertURL'], 'SigningCertURL', pattern, true);
  if (badUrl) return fail('WEBHOOK_SIGNATURE_INVALID', badUrl);
  const version = msg['SignatureVersion'];
  if (version !== '1' && version !== '2')
    return fail(
      'WEBHOOK_SIGNATURE_INVALID',
      `unsupported SignatureVersion ${JSON.stringify(version)} (expected "1" or "2")`,
    );
  if (typeof msg['Signature'] !== 'string' || msg['Signature'] === '')
    return fail('WEBHOOK_SIGNATURE_INVALID', 'missing Signature');

  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await keys.certificates(msg['SigningCertURL'] as string));
  } catch (err) {
    return fail(
      'WEBHOOK_SIGNATURE_INVALID',
      `cert not trusted: could not load certificate from SigningCertURL (${(err as Error).message})`,
    );
  }
  const untrusted = untrustedReason(cert, keys, now);
  if (untrusted) return fail('WEBHOOK_SIGNATURE_INVALID', untrusted);

  let valid = false;
  try {
    valid = verifySignature(
      version === '1' ? 'sha1' : 'sha256',
      Buffer.from(snsStringToSign(msg), 'utf8'),
      cert.publicKey,
      Buffer.from(msg['Signature'], 'base64'),
    );
  } catch {
    valid = false;
  }
  if (!valid)
    return fail(
      'WEBHOOK_SIGNATURE_INVALID',
      `bad signature: SignatureVersion ${version} signature does not verify with the certificate (tampered `
        + `message or wrong certificate)`,
    );

  const signedAt = Date.parse(String(msg['Timestamp']));
  if (signedAt - now.getTime() > MAX_FUTURE_SKEW_SECONDS * 1000) {
    return fail(
      'WEBHOOK_STALE',
      `timestamp ${String(msg['Timestamp']).slice(0, 40)} is more than ${MAX_FUTURE_SKEW_SECONDS} s in the future`,
    );
  }
  if (keys.toleranceSeconds !== undefined) {
    const at = Date.parse(String(msg['Timestamp']));
    const skew = Math.round((now.getTime() - at) / 1000);
    if (Number.isNaN(at) || Math.abs(skew) > keys.toleranceSeconds) {
      return fail(
        'WEBHOOK_STALE',
        `timestamp ${String(msg['Timestamp'])} is `
          + `${Number.isNaN(at) ? 'unreadable' : `${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'}`}, `
          + `outside tolerance ${keys.toleranceSeconds} s`,
      );
    }
  }
  if (msg.Type === 'SubscriptionConfirmation') {
    const badSubscribe = checkSnsUrl(msg['SubscribeURL'], 'SubscribeURL', pattern, false);
    if (badSubscribe) return fail('WEBHOOK_SIGNATURE_INVALID', badSubscribe);
    return { ok: true, subscribeUrl: msg['SubscribeURL'] as string };
  }
  return { ok: true };
}
