/**
 * The webhook verifier registry: one `{ verify, normalize }` pair per vendor, built from
 * configuration, so the HTTP endpoints and the CLI run exactly the same code. Also the shared
 * types every vendor's verify.ts / normalize.ts speaks. A vendor with no configured secret
 * rejects every request with a reason; nothing is ever accepted unverified.
 */
import type { KeyObject } from 'node:crypto';
import type { EngagementEvent } from '../../core/events.ts';
import { normalize as normalizeStripe, type StripeEvent } from '../billing/stripe/normalize.ts';
import { verify as verifyStripe } from '../billing/stripe/verify.ts';
import { normalize as normalizeMailgun } from './mailgun/normalize.ts';
import { verify as verifyMailgun } from './mailgun/verify.ts';
import { normalize as normalizePostmark } from './postmark/normalize.ts';
import { verify as verifyPostmark } from './postmark/verify.ts';
import { normalize as normalizeSendgrid } from './sendgrid/normalize.ts';
import { parseSendgridPublicKey, verify as verifySendgrid } from './sendgrid/verify.ts';
import { normalize as normalizeSes } from './ses/normalize.ts';
import { verify as verifySes } from './ses/verify.ts';

/** A webhook request as received: the raw body bytes and the headers (any case). */
export interface WebhookInput {
  body: Buffer | string;
  headers: Record<string, string | string[] | undefined>;
}

export type VerifyFailureCode = 'WEBHOOK_SIGNATURE_INVALID' | 'WEBHOOK_PAYLOAD_INVALID' | 'WEBHOOK_STALE';

/**
 * What makes a verified request unique, where the vendor signs something unique: Mailgun's token,
 * Stripe's and SendGrid's signed timestamp with the signature or body. The caller remembers it
 * until `expiresAt` (when the signature turns stale anyway) and refuses a second use.
 */
export interface ReplayKey { key: string; expiresAt: Date }

/** ok, or why not. `subscribeUrl` is set for a verified SNS SubscriptionConfirmation. */
export type VerifyResult =
  | { ok: true; subscribeUrl?: string; replay?: ReplayKey }
  | { ok: false; code: VerifyFailureCode; reason: string };

export interface RejectedEvent {
  /** Position of the event in the vendor batch (0 for one-event-per-POST vendors). */
  index: number;
  reason: string;
}

/** What one webhook body became: events, events we refused, and known events we do not carry. */
export interface NormalizeResult {
  events: EngagementEvent[];
  rejected: RejectedEvent[];
  ignored: RejectedEvent[];
}

export interface WebhookSecrets {
  sendgrid?: {
    /** Signed Event Webhook verification key: PEM, or base64 DER as SendGrid's UI shows it. */
    publicKey: string;
    /** Default 86400 s (SendGrid documents no window). */
    toleranceSeconds?: number;
  };
  mailgun?: { signingKey: string; toleranceSeconds?: number };
  postmark?: { username: string; password: string };
  stripe?: { signingSecret: string; toleranceSeconds?: number };
  ses?: {
    /** Accepted SNS topics; required (anyone can subscribe our URL to their own topic). */
    topicArns: string[];
    /** Loads the PEM at a SigningCertURL (production: ses/cert-loader.ts); results are cached per URL (LRU, 16). */
    loadCertificate?: (certUrl: string) => Promise<string>;
    /** Pinned SNS signing certificates (PEM). Without a loader exactly one must be given. */
    trustedCertificates?: string[];
    /** CA certificates (PEM) the signing certificate must chain to. */
    trustedCas?: string[];
    /** Max age of the SNS Timestamp; default unchecked. */
    toleranceSeconds?: number;
  };
}

export interface WebhookVerifier<N> {
  verify(req: WebhookInput, now: Date): Promise<VerifyResult>;
  /** Takes the parsed JSON body; throws WEBHOOK_PAYLOAD_INVALID only when the whole body has the wrong shape. */
  normalize(body: unknown): N;
}

export interface WebhookVerifiers {
  sendgrid: WebhookVerifier<NormalizeResult>;
  mailgun: WebhookVerifier<NormalizeResult>;
  ses: WebhookVerifier<NormalizeResult>;
  postmark: WebhookVerifier<NormalizeResult>;
  stripe: WebhookVerifier<StripeEvent>;
}

export const ESP_WEBHOOK_VENDORS = ['sendgrid', 'mailgun', 'ses', 'postmark'] as const;
export type EspWebhookVendor = (typeof ESP_WEBHOOK_VENDORS)[number];

function notConfigured(vendor: string): VerifyResult {
  return { ok: false, code: 'WEBHOOK_SIGNATURE_INVALID', reason: `${vendor} webhooks are not configured (no key or secret)` };
}

/** Certificates kept per registry: SNS uses a handful of signing certificates at a time. */
export const CERTIFICATE_CACHE_SIZE = 16;

/**
 * Caches certificates per (already host-checked) URL for this registry, least recently used out
 * first, so senders naming many URLs cannot grow it; failed loads are not cached.
 */
function createCertificateSource(ses: NonNullable<WebhookSecrets['ses']>): (url: string) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  const load = ses.loadCertificate;
  if (!load) {
    return async (url) => {
      const pinned = ses.trustedCertificates ?? [];
      if (pinned.length === 1 && pinned[0] !== undefined) return pinned[0];
      throw new Error(`no certificate loader configured and ${pinned.length} pinned certificates for ${url}`);
    };
  }
  return (url) => {
    const key = new URL(url).href;
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const p = load(key);
    cache.set(key, p);
    if (cache.size > CERTIFICATE_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    p.catch(() => { if (cache.get(key) === p) cache.delete(key); });
    return p;
  };
}

export function createWebhookVerifiers(config: WebhookSecrets): WebhookVerifiers {
  // Parse the SendGrid key once; a bad key is reported on every request rather than crashing startup.
  let sendgridKey: KeyObject | string | undefined = config.sendgrid?.publicKey;
  if (typeof sendgridKey === 'string') {
    try {
      sendgridKey = parseSendgridPublicKey(sendgridKey);
    } catch {
      // left as a string: verify() reports "wrong key: …" with the parse error
    }
  }
  const ses = config.ses;
  const certificates = ses ? createCertificateSource(ses) : undefined;
  return {
    sendgrid: {
      async verify(req, now) {
        if (!config.sendgrid || sendgridKey === undefined) return notConfigured('sendgrid');
        return verifySendgrid(req, { publicKey: sendgridKey, toleranceSeconds: config.sendgrid.toleranceSeconds }, now);
      },
      normalize: normalizeSendgrid,
    },
    mailgun: {
      async verify(req, now) {
        return config.mailgun ? verifyMailgun(req, config.mailgun, now) : notConfigured('mailgun');
      },
      normalize: normalizeMailgun,
    },
    ses: {
      async verify(req, now) {
        if (!ses || !certificates) return notConfigured('ses');
        return verifySes(req, {
          certificates, topicArns: ses.topicArns, trustedCertificates: ses.trustedCertificates,
          trustedCas: ses.trustedCas, toleranceSeconds: ses.toleranceSeconds,
        }, now);
      },
      normalize: normalizeSes,
    },
    postmark: {
      async verify(req, now) {
        return config.postmark ? verifyPostmark(req, config.postmark, now) : notConfigured('postmark');
      },
      normalize: normalizePostmark,
    },
    stripe: {
      async verify(req, now) {
        return config.stripe ? verifyStripe(req, config.stripe, now) : notConfigured('stripe');
      },
      normalize: normalizeStripe,
    },
  };
}
