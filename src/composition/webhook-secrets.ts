/**
 * Webhook verification keys from the webhooks slice. The SNS signing certificate is read from
 * the pinned file once at start, or else fetched (host-checked and cached) when a message names it.
 */
import { readFileSync } from 'node:fs';
import { createSystemClock } from '../clock/system.ts';
import type { WebhooksConfig } from '../config.ts';
import { createSnsCertificateLoader } from '../connectors/esp/ses/cert-loader.ts';
import type { WebhookSecrets } from '../connectors/webhook-port.ts';

export function webhookSecrets(webhooks: WebhooksConfig): WebhookSecrets {
  const secrets: WebhookSecrets = {};
  if (webhooks.sendgrid) secrets.sendgrid = { ...webhooks.sendgrid };
  if (webhooks.mailgun) secrets.mailgun = { ...webhooks.mailgun };
  if (webhooks.stripe) secrets.stripe = { ...webhooks.stripe };
  if (webhooks.postmark) secrets.postmark = { ...webhooks.postmark };
  if (webhooks.hubspot) secrets.hubspot = { ...webhooks.hubspot };
  if (webhooks.ses) {
    const { topicArns, certFile } = webhooks.ses;
    secrets.ses = {
      topicArns: [...topicArns],
      ...(certFile !== undefined
        ? { trustedCertificates: [readFileSync(certFile, 'utf8')] }
        : { loadCertificate: createSnsCertificateLoader({ fetch, clock: createSystemClock() }) }),
    };
  }
  return secrets;
}
