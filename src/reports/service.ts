/**
 * Executive reports on a schedule (docs/attribution.md, Executive reports). Each tick, per
 * definition, the scheduled times that passed since the newest claimed one (`report_schedules`,
 * locked for the tick: a restart neither skips nor repeats a time) are claimed in `report_runs`,
 * one row per (report, scheduled time); each claimed run is built from the attribution and
 * anomaly services, rendered (HTML email with SVG charts, PDF) and queued to every recipient on
 * the transactional lane with the idempotency key `report:<name>:<time>:<recipient>`, then marked
 * sent with its PDF. A run that died before being marked is finished by the next tick and queues
 * nothing twice. `runNow` (the CLI's `report run NAME`) claims the current minute as a manual run.
 */
import type { Logger } from 'pino';
import type { AnomalyService } from '../anomalies/service.ts';
import type { AttributionService } from '../attribution/service.ts';
import { pollUntilAborted } from '../bus/relay.ts';
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { MessageService } from '../messages/service.ts';
import type { Db } from '../store/port.ts';
import { buildReportData } from './build.ts';
import { latestScheduled, periodOf, type ReportDefinition, scheduledTimes } from './definitions.ts';
import * as q from './queries.ts';
import { renderReportHtml, renderReportPdf, renderReportText, reportBlocks, reportTitle } from './render.ts';

export interface ReportSettings {
  definitions: readonly ReportDefinition[];
  from: string;
  intervalMs: number;
  /** Attach the PDF (the ESP sends attachments); otherwise it is only kept for the API. */
  attachPdf: boolean;
  /** The ESP's cap on a message's files, base64 characters: a larger PDF is kept for the API only. */
  maxAttachmentBytes?: number;
}

export interface ReportRunResult {
  name: string;
  scheduledAt: string;
  /** False when this (report, time) had already been sent: nothing was queued again. */
  sent: boolean;
  recipients: number;
  pdfBytes: number;
  /** Whether the emails carried the PDF (false: the ESP sends no attachments or the PDF is over its cap). */
  pdfAttached?: boolean;
}

export interface Rendered {
  subject: string;
  html: string;
  text: string;
  pdf: Buffer;
}

export interface ReportService {
  /** Claims and sends every report whose scheduled time passed; finishes runs a crash interrupted. */
  runDue(): Promise<ReportRunResult[]>;
  /** Runs one report now, covering its period up to the current minute (idempotent per minute). */
  runNow(name: string): Promise<ReportRunResult>;
  /** Builds and renders a report for a period without sending or recording anything. */
  render(name: string, at: Date): Promise<Rendered>;
  /** The PDF kept for a sent run, or null. */
  pdf(name: string, scheduledAt: Date): Promise<Buffer | null>;
  /** The `reports` stage's loop: runDue every intervalMs of the clock until aborted. */
  run(signal: AbortSignal): Promise<void>;
}

/** Most scheduled times one tick claims per report (a cron every minute after a week's outage). */
const MAX_CATCH_UP = 10;

export function createReportService(
  deps: {
    db: Db;
    clock: Clock;
    log: Logger;
    attribution: Pick<AttributionService, 'report'>;
    anomalies: Pick<AnomalyService, 'list'>;
    messages: Pick<MessageService, 'send'>;
  },
  settings: ReportSettings,
): ReportService {
  const { db, clock, log } = deps;
  const byName = new Map(settings.definitions.map((d) => [d.name, d]));

  function definition(name: string): ReportDefinition {
    const d = byName.get(name);
    if (d === undefined)
      throw new SwitchyardError(
        'NOT_FOUND',
        `no report named ${name}; configured: ${[...byName.keys()].join(', ') || 'none (SWITCHYARD_REPORTS)'}`,
      );
    return d;
  }

  async function render(d: ReportDefinition, at: Date): Promise<Rendered> {
    const data = await buildReportData(deps, d, periodOf(d.period, at), at);
    const blocks = reportBlocks(data, d.sections, d.top);
    return {
      subject: reportTitle(data),
      html: renderReportHtml(data, blocks),
      text: renderReportText(data, blocks),
      pdf: await renderReportPdf(data, blocks, at),
    };
  }

  /** Builds, queues to every recipient and marks one claimed run. */
  async function send(d: ReportDefinition, at: Date): Promise<ReportRunResult> {
    const r = await render(d, at);
    const pdfBase64 = r.pdf.toString('base64');
    const fits = settings.maxAttachmentBytes === undefined || pdfBase64.length <= settings.maxAttachmentBytes;
    if (settings.attachPdf && !fits)
      log.warn(
        { report: d.name, pdfBytes: r.pdf.length, cap: settings.maxAttachmentBytes },
        'report PDF over the ESP attachment cap; sent without it, kept for download',
      );
    const attach = settings.attachPdf && fits;
    for (const to of d.recipients) {
      await deps.messages.send({
        idempotencyKey: `report:${d.name}:${at.toISOString()}:${to}`,
        category: 'report',
        to: { email: to },
        from: { address: settings.from, name: 'Switchyard reports' },
        subject: r.subject.replaceAll('{', '(').replaceAll('}', ')'),
        template: { html: r.html, text: r.text },
        ...(attach
          ? {
              attachments: [
                {
                  filename: `${d.name}-${at.toISOString().slice(0, 10)}.pdf`,
                  contentType: 'application/pdf',
                  contentBase64: pdfBase64,
                },
              ],
            }
          : {}),
      });
    }
    await q.markSent(db, d.name, at, d.recipients.length, r.pdf, clock.now());
    return {
      name: d.name,
      scheduledAt: at.toISOString(),
      sent: true,
      recipients: d.recipients.length,
      pdfBytes: r.pdf.length,
      pdfAttached: attach,
    };
  }

  /** Claims the scheduled times of one report that passed since the last claimed one. */
  async function claimDue(d: ReportDefinition, now: Date): Promise<Date[]> {
    return db.transaction(async (tx) => {
      // first sight of a report: its schedule starts now, no back-fill of times never promised
      const last = await q.lockSchedule(tx, d.name, latestScheduled(d, now));
      const due = scheduledTimes(d, last, now, MAX_CATCH_UP);
      const claimed: Date[] = [];
      for (const at of due) if (await q.claimRun(tx, d.name, at, 'schedule', now)) claimed.push(at);
      const newest = due[due.length - 1];
      if (newest !== undefined) await q.advanceSchedule(tx, d.name, newest);
      return claimed;
    });
  }

  const service: ReportService = {
    async runDue() {
      const now = clock.now();
      for (const d of settings.definitions) await claimDue(d, now);
      const out: ReportRunResult[] = [];
      for (const run of await q.unsentRuns(db, 20)) {
        const d = byName.get(run.name);
        if (d === undefined) continue; // a report removed from the configuration: its claimed run stays unsent
        try {
          out.push(await send(d, run.scheduled_at));
        } catch (err) {
          log.error({ err, report: run.name, scheduledAt: run.scheduled_at }, 'executive report failed; will retry');
        }
      }
      return out;
    },
    async runNow(name) {
      const d = definition(name);
      const now = clock.now();
      const at = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
      const claimed = await db.transaction((tx) => q.claimRun(tx, d.name, at, 'manual', now));
      const existing = claimed ? null : await q.getRun(db, d.name, at);
      if (existing?.sent_at) {
        const pdf = await q.runPdf(db, d.name, at);
        return {
          name,
          scheduledAt: at.toISOString(),
          sent: false,
          recipients: existing.recipients,
          pdfBytes: pdf?.length ?? 0,
        };
      }
      return send(d, at);
    },
    render: (name, at) => render(definition(name), at),
    pdf: (name, at) => q.runPdf(db, name, at),
    run(signal) {
      return pollUntilAborted({ clock, log }, signal, settings.intervalMs, 'report scheduler', async () => {
        await service.runDue();
        return 0;
      });
    },
  };
  return service;
}
