/**
 * `switchyard webhooks verify`: checks a captured webhook request offline with exactly the code the
 * HTTP endpoints use (the registry main.ts hands in, src/composition/webhook-verifiers.ts), so "why
 * did this delivery get a 401?" can be answered from a body file and its headers. Exit 0 and "valid",
 * 1 and the reason, 2 for usage errors.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { WebhookSecrets, WebhookVerifiers } from '../../connectors/webhook-port.ts';

const PROVIDERS = ['sendgrid', 'mailgun', 'ses', 'postmark', 'stripe', 'hubspot'] as const;
type Provider = (typeof PROVIDERS)[number];

interface VerifyOptions {
  provider: string;
  bodyFile: string;
  header: string[];
  secret?: string;
  publicKey?: string;
  certFile?: string;
  topicArn: string[];
  now?: string;
  method: string;
  url?: string;
}

function parseHeaders(lines: string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return `--header must be "Name: value", got ${JSON.stringify(line)}`;
    out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

/** Builds the one vendor's secrets from the flags, or says which flag is missing. */
function secretsFor(provider: Provider, o: VerifyOptions, body: Buffer): WebhookSecrets | string {
  switch (provider) {
    case 'sendgrid': {
      if (!o.publicKey) return 'sendgrid needs --public-key (a file, or the base64 key)';
      return { sendgrid: { publicKey: existsSync(o.publicKey) ? readFileSync(o.publicKey, 'utf8') : o.publicKey } };
    }
    case 'mailgun':
      return o.secret ? { mailgun: { signingKey: o.secret } } : 'mailgun needs --secret (the webhook signing key)';
    case 'hubspot':
      if (!o.secret) return 'hubspot needs --secret (the app client secret)';
      if (!o.url) return 'hubspot needs --url (the full URL HubSpot called: v3 signs it)';
      return { hubspot: { clientSecret: o.secret } };
    case 'stripe':
      return o.secret ? { stripe: { signingSecret: o.secret } } : 'stripe needs --secret (the whsec_… signing secret)';
    case 'postmark': {
      const colon = o.secret?.indexOf(':') ?? -1;
      if (!o.secret || colon < 0) return 'postmark needs --secret user:password';
      return { postmark: { username: o.secret.slice(0, colon), password: o.secret.slice(colon + 1) } };
    }
    case 'ses': {
      if (!o.certFile) return 'ses needs --cert-file (the trusted SNS signing certificate, PEM)';
      let topicArns = o.topicArn;
      if (topicArns.length === 0) {
        // Offline diagnosis checks the signature; without --topic-arn, accept the body's own topic.
        try {
          const topic = (JSON.parse(body.toString('utf8')) as { TopicArn?: unknown }).TopicArn;
          topicArns = typeof topic === 'string' ? [topic] : [];
        } catch {
          topicArns = [];
        }
      }
      return { ses: { topicArns, trustedCertificates: [readFileSync(o.certFile, 'utf8')] } };
    }
  }
}

export function registerWebhookCommands(
  program: Command,
  createWebhookVerifiers: (secrets: WebhookSecrets) => WebhookVerifiers | Promise<WebhookVerifiers>,
): void {
  const webhooks = program.command('webhooks').description('Webhook tools');
  webhooks
    .command('verify')
    .description('Verify a captured webhook request (body file + headers) offline')
    .requiredOption('--provider <name>', `one of ${PROVIDERS.join(', ')}`)
    .requiredOption('--body-file <path>', 'the raw request body, byte for byte')
    .option(
      '--header <line>',
      'a request header "Name: value" (repeat)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--secret <secret>',
      'mailgun signing key, stripe whsec_… secret, hubspot app client secret, or postmark user:password',
    )
    .option('--public-key <key>', 'sendgrid verification key: a PEM/base64 file or the base64 key itself')
    .option('--cert-file <pem>', 'ses: the trusted SNS signing certificate (PEM); nothing is fetched')
    .option(
      '--topic-arn <arn>',
      "ses: an accepted TopicArn (repeat); default: the body's own",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--now <iso>', 'verify as if at this time (ISO 8601)')
    .option('--method <method>', 'hubspot: the request method', 'POST')
    .option('--url <url>', 'hubspot: the full URL HubSpot called (scheme, host, path, query)')
    .action(async (o: VerifyOptions) => {
      const usage = (msg: string): void => {
        process.stderr.write(`${msg}\n`);
        process.exitCode = 2;
      };
      if (!(PROVIDERS as readonly string[]).includes(o.provider))
        return usage(`--provider must be one of ${PROVIDERS.join(', ')}`);
      const provider = o.provider as Provider;
      if (!existsSync(o.bodyFile)) return usage(`--body-file ${o.bodyFile} does not exist`);
      const body = readFileSync(o.bodyFile);
      const headers = parseHeaders(o.header);
      if (typeof headers === 'string') return usage(headers);
      const now = o.now === undefined ? new Date() : new Date(o.now);
      if (Number.isNaN(now.getTime())) return usage(`--now is not an ISO 8601 time: ${o.now}`);
      if (o.certFile !== undefined && !existsSync(o.certFile)) return usage(`--cert-file ${o.certFile} does not exist`);
      const secrets = secretsFor(provider, o, body);
      if (typeof secrets === 'string') return usage(secrets);

      const result = await (await createWebhookVerifiers(secrets))[provider].verify(
        { body, headers, method: o.method.toUpperCase(), ...(o.url === undefined ? {} : { url: o.url }) },
        now,
      );
      if (result.ok) {
        process.stdout.write(
          result.subscribeUrl ? `valid (SubscriptionConfirmation: confirm by GET ${result.subscribeUrl})\n` : 'valid\n',
        );
        return;
      }
      process.stdout.write(`invalid: ${result.code}: ${result.reason}\n`);
      process.exitCode = 1;
    });
}
