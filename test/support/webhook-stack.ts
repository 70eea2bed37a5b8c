/**
 * The webhook routes on the real store: PGlite or PostgreSQL ingest, postgres-log dead letters,
 * the replay guard and a prom-client registry, with every vendor configured through the test
 * signers. Attack and fuzz tests use it so a value PostgreSQL refuses fails here as it would in
 * production, instead of passing through an in-memory fake.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createPostgresLogBus } from '../../src/bus/postgres-log/adapter.ts';
import { createManualClock, type ManualClock } from '../../src/clock/manual.ts';
import { getSuppression } from '../../src/compliance/suppression.ts';
import { createWebhookVerifiers } from '../../src/composition/webhook-verifiers.ts';
import { registerWebhookRoutes, type WebhookRouteDeps } from '../../src/api/routes/webhooks.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import { createIngest } from '../../src/reactions/ingest.ts';
import { createWebhookReplayGuard } from '../../src/reactions/webhook-replay.ts';
import type { Db } from '../../src/store/port.ts';
import { createSendgridSigner, createSnsSigner, type SendgridSigner, type SnsSigner } from './webhook-signing.ts';

export const MAILGUN_KEY = 'key-test-mailgun';
export const POSTMARK = { username: 'pm', password: 'pm-secret' };
export const T = 1772323200; // 2026-03-01T00:00:00Z

export interface WebhookStack {
  app: FastifyInstance;
  db: Db;
  clock: ManualClock;
  metrics: Metrics;
  sendgrid: SendgridSigner;
  sns: SnsSigner;
  /** Bytes of webhook dead letters stored (payload + message). */
  deadLetterBytes(): Promise<number>;
  isSuppressed(email: string): Promise<boolean>;
  /** switchyard_webhook_refused_total for one vendor and code. */
  refusedCount(vendor: string, code: string): Promise<number>;
}

/** The signers whose keys the test verifiers trust (one pair per test process). */
export const sendgrid = createSendgridSigner();
export const sns = createSnsSigner();

/** Verifiers for every vendor, configured with the test keys above. */
export function testWebhookVerifiers(): ReturnType<typeof createWebhookVerifiers> {
  return createWebhookVerifiers({
    sendgrid: { publicKey: sendgrid.publicKeyBase64 },
    mailgun: { signingKey: MAILGUN_KEY },
    postmark: POSTMARK,
    ses: { topicArns: [sns.topicArn], loadCertificate: async () => sns.certPem, trustedCas: [sns.caPem] },
  });
}

export async function createWebhookStack(
  db: Db,
  options: Partial<Pick<WebhookRouteDeps, 'maxBodyBytes' | 'sampling'>> = {},
): Promise<WebhookStack> {
  const clock = createManualClock(new Date(T * 1000 + 5_000));
  const bus = createPostgresLogBus({ db, clock });
  const metrics = createMetrics({ bus });
  const app = Fastify();
  registerWebhookRoutes(app, {
    verifiers: testWebhookVerifiers(),
    ingest: createIngest({ db, bus, clock }),
    deadLetters: bus.deadLetters,
    replay: createWebhookReplayGuard({ db, clock }),
    refused: metrics.webhookRefused,
    clock,
    maxBodyBytes: options.maxBodyBytes ?? 2 * 1024 * 1024,
    ...(options.sampling ? { sampling: options.sampling } : {}),
    async confirmSnsSubscription() {},
  });
  await app.ready();
  return {
    app,
    db,
    clock,
    metrics,
    sendgrid,
    sns,
    async deadLetterBytes() {
      const { rows } = await db.query<{ n: number }>(
        `select coalesce(sum(octet_length(payload::text) + octet_length(message)), 0)::int as n from dead_letters
          where stage like 'webhook.%'`,
      );
      return rows[0]!.n;
    },
    async isSuppressed(email) {
      return (await getSuppression(db, email)) !== null;
    },
    async refusedCount(vendor, code) {
      const m = await metrics.webhookRefused.get();
      return m.values.find((v) => v.labels['vendor'] === vendor && v.labels['code'] === code)?.value ?? 0;
    },
  };
}
