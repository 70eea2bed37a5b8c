/**
 * Builds the compliance road from configuration: the subject keys (the privacy module's blind
 * index names every subject, so the ledger, the DSR tables and the fingerprints agree), the consent
 * ledger and double opt-in, the DSR service, and the runner with one step per connected system —
 * CRM, ESP (its suppression API; SMTP: not applicable), billing (Stripe, when a key is set),
 * warehouse (configured statements, when set), the external compliance webhook (when set) and our
 * own store, whose eraser calls the privacy module's shred first.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../clock/port.ts';
import { createConsentLedger, type ConsentLedger } from '../compliance/consent/ledger.ts';
import { createDoubleOptIn, type DoubleOptIn } from '../compliance/consent/double-opt-in.ts';
import { createSubjectKeys, type SubjectKeys } from '../compliance/consent/subject-keys.ts';
import { createOwnStoreEraser, ownStoreSystem } from '../compliance/dsr/own-store.ts';
import type { DsrSystem } from '../compliance/dsr/port.ts';
import { createDsrRunner, DEFAULT_RUNNER_OPTIONS, type DsrRunner } from '../compliance/dsr/runner.ts';
import { createDsrService, type DsrService, type SendTransactional } from '../compliance/dsr/service.ts';
import { billingSystem, complianceSystem, crmSystem, espSystem, warehouseSystem } from '../compliance/dsr/systems.ts';
import type { Config } from '../config.ts';
import { createStripeCustomers } from '../connectors/billing/stripe/customers.ts';
import { createWebhookComplianceSystem } from '../connectors/compliance/webhook/adapter.ts';
import type { Crm } from '../connectors/crm/port.ts';
import type { Esp } from '../connectors/esp/port.ts';
import { createPostgresWarehouseEraser } from '../connectors/warehouse/postgres/erase.ts';
import type { Privacy } from '../privacy/service.ts';
import type { Db } from '../store/port.ts';
import { espSuppressionSink } from './esp.ts';

export interface ComplianceRoad {
  keys: SubjectKeys;
  consent: ConsentLedger;
  doubleOptIn: DoubleOptIn;
  dsr: DsrService;
  runner: DsrRunner;
  systems: readonly string[];
}

function secretOf(config: Pick<Config, 'compliance' | 'dataDir'>): string {
  if (config.compliance.secret !== undefined) return config.compliance.secret;
  const file = join(config.dataDir, 'compliance-secret');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return readFileSync(file, 'utf8').trim();
}

/** A plain transactional message through the ESP port (its own send road comes with POST /v1/messages). */
export function transactionalSender(esp: Esp, from: string, newId: () => string): SendTransactional {
  return async (msg) => {
    const id = newId();
    await esp.send({
      messageId: `${id}@switchyard.transactional`,
      from: { address: from },
      to: { address: msg.to },
      subject: msg.subject,
      text: msg.text,
      html: msg.html,
      headers: { 'Auto-Submitted': 'auto-generated' },
      correlation: { campaignId: 'transactional', contactId: id, ledgerId: `transactional:${id}` },
      tags: ['transactional', 'compliance'],
    });
  };
}

export function createComplianceRoad(
  config: Config,
  deps: { db: Db; clock: Clock; log: Logger; crm: Crm; esp: Esp; privacy: Privacy; newId: () => string },
): ComplianceRoad {
  const { db, clock, log, privacy } = deps;
  const c = config.compliance;
  const keys = createSubjectKeys(secretOf(config), (email) => privacy.blindIndex(email).toString('hex'));
  const consent = createConsentLedger({ db, clock, log, keys });
  const sendMail = transactionalSender(deps.esp, `privacy@${new URL(config.http.publicUrl).hostname}`, deps.newId);
  const doubleOptIn = createDoubleOptIn(
    { db, clock, consent, keys, sendMail, newId: deps.newId },
    { publicUrl: config.http.publicUrl, ttlMs: c.doiTtlMs },
  );
  const espKind = config.esp.primary.kind;
  const systems: DsrSystem[] = [
    crmSystem(deps.crm),
    espSystem(espKind, espKind === 'smtp' ? undefined : espSuppressionSink(config.esp.primary, { clock }, 'esp')),
    ...(c.stripe
      ? [billingSystem(createStripeCustomers({ secretKey: c.stripe.secretKey, baseUrl: c.stripe.apiUrl }))]
      : []),
    ...(c.warehouseStatements && config.warehouse.url
      ? [
          warehouseSystem(
            createPostgresWarehouseEraser({
              url: config.warehouse.url,
              statements: c.warehouseStatements,
              statementTimeoutMs: config.warehouse.statementTimeoutMs,
            }),
          ),
        ]
      : []),
    ...(c.webhook ? [complianceSystem(createWebhookComplianceSystem({ clock }, c.webhook))] : []),
    ownStoreSystem(createOwnStoreEraser({ db, clock, shred: (email) => privacy.shred(email, 'erased') }), {
      db,
      clock,
    }),
  ];
  const names = systems.map((s) => s.name);
  const dsr = createDsrService(
    { db, clock, log, keys, newId: () => `dsr_${randomBytes(8).toString('hex')}`, sendMail, systems: names },
    { publicUrl: config.http.publicUrl, verifyTtlMs: c.verifyTtlMs },
  );
  const runner = createDsrRunner(
    {
      db,
      clock,
      log,
      systems,
      callbackSecret: keys.linkSecrets[0]!,
      postJson: async (url, body, headers) => {
        const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(15_000) });
        return res.status;
      },
    },
    { ...DEFAULT_RUNNER_OPTIONS, maxAttempts: c.maxAttempts, leaseMs: c.leaseMs },
  );
  return { keys, consent, doubleOptIn, dsr, runner, systems: names };
}
