/**
 * The webhook port: what every vendor's verify.ts / normalize.ts speaks, what the HTTP routes and
 * the CLI call, and the secrets the registry (src/composition/webhook-verifiers.ts) is built from.
 * A vendor with no configured secret rejects every request with a reason; nothing is ever
 * accepted unverified.
 */
import type { EngagementEvent } from '../core/events.ts';
import type { BillingEvent } from './billing/port.ts';
import type { CrmChangeBatch } from './crm/port.ts';

/** A webhook request as received: the raw body bytes and the headers (any case). */
export interface WebhookInput {
  body: Buffer | string;
  headers: Record<string, string | string[] | undefined>;
  /** The request line, for vendors that sign it (HubSpot v3): method and the full URL the vendor called. */
  method?: string;
  url?: string;
}

export type VerifyFailureCode = 'WEBHOOK_SIGNATURE_INVALID' | 'WEBHOOK_PAYLOAD_INVALID' | 'WEBHOOK_STALE';

/**
 * What makes a verified request unique, where the vendor signs something unique: Mailgun's token,
 * Stripe's and SendGrid's signed timestamp with the signature or body. The caller remembers it
 * until `expiresAt` (when the signature turns stale anyway) and refuses a second use.
 */
export interface ReplayKey {
  key: string;
  expiresAt: Date;
}

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
  /** HubSpot app client secret (signature v3); tolerance default 300 s as HubSpot documents. */
  hubspot?: { clientSecret: string; toleranceSeconds?: number };
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
  stripe: WebhookVerifier<BillingEvent>;
  hubspot: WebhookVerifier<CrmChangeBatch>;
}

export const ESP_WEBHOOK_VENDORS = ['sendgrid', 'mailgun', 'ses', 'postmark'] as const;
export type EspWebhookVendor = (typeof ESP_WEBHOOK_VENDORS)[number];
