/**
 * The webhook verifier registry: one `{ verify, normalize }` pair per vendor, built from
 * configuration by the composition root and handed to the HTTP endpoints and the CLI, so both run
 * exactly the same code.
 */
import type { KeyObject } from 'node:crypto';
import { normalize as normalizeHubspot } from '../connectors/crm/hubspot/normalize.ts';
import { verify as verifyHubspot } from '../connectors/crm/hubspot/verify.ts';
import { normalize as normalizeStripe } from '../connectors/billing/stripe/normalize.ts';
import { verifyWithStripeLibrary as verifyStripe } from '../connectors/billing/stripe/verify.ts';
import { normalize as normalizeMailgun } from '../connectors/esp/mailgun/normalize.ts';
import { verify as verifyMailgun } from '../connectors/esp/mailgun/verify.ts';
import { normalize as normalizePostmark } from '../connectors/esp/postmark/normalize.ts';
import { verify as verifyPostmark } from '../connectors/esp/postmark/verify.ts';
import { normalize as normalizeSendgrid } from '../connectors/esp/sendgrid/normalize.ts';
import { parseSendgridPublicKey, verify as verifySendgrid } from '../connectors/esp/sendgrid/verify.ts';
import { normalize as normalizeSes } from '../connectors/esp/ses/normalize.ts';
import { verify as verifySes } from '../connectors/esp/ses/verify.ts';
import type { VerifyResult, WebhookSecrets, WebhookVerifiers } from '../connectors/webhook-port.ts';

function notConfigured(vendor: string): VerifyResult {
  return {
    ok: false,
    code: 'WEBHOOK_SIGNATURE_INVALID',
    reason: `${vendor} webhooks are not configured (no key or secret)`,
  };
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
    p.catch(() => {
      if (cache.get(key) === p) cache.delete(key);
    });
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
        return verifySes(
          req,
          {
            certificates,
            topicArns: ses.topicArns,
            trustedCertificates: ses.trustedCertificates,
            trustedCas: ses.trustedCas,
            toleranceSeconds: ses.toleranceSeconds,
          },
          now,
        );
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
    hubspot: {
      async verify(req, now) {
        return config.hubspot ? verifyHubspot(req, config.hubspot, now) : notConfigured('hubspot');
      },
      normalize: normalizeHubspot,
    },
  };
}
