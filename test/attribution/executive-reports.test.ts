/**
 * Executive reports through the app as app.ts wires it (PGlite, sandbox ESP, manual clock): a
 * weekly report (cron `0 7 * * 1`) over a week of clicks and revenue. The first tick only starts
 * the schedule; at Monday 07:00 the report is built from the same queries the API serves (its
 * attributed revenue equals GET /v1/attribution/report's), emailed once per recipient on the
 * transactional lane as HTML with inline SVG charts, and its PDF, turned into an image by
 * pdftoppm, is not blank. Ticks again send nothing; after a two-week outage a new scheduler sends
 * exactly the two missed Mondays; `POST /v1/reports/:name/run` (the CLI's `report run`) sends now,
 * once per minute, admin only.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PDFDocument from 'pdfkit';
import { pino } from 'pino';
import { Command } from 'commander';
import { createApp, type App } from '../../src/app.ts';
import { registerReportCommands } from '../../src/cli/commands/reports.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createMessageService } from '../../src/messages/service.ts';
import { formatMinor } from '../../src/core/currency.ts';
import { createReportService } from '../../src/reports/service.ts';
import type { Db } from '../../src/store/port.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';
import { type TestDatabase, testDatabases } from '../support/databases.ts';
import { drain } from '../support/pipeline.ts';
import { pngLuminance, variance } from '../support/png.ts';
import { capturedSandbox } from '../support/captured-sandbox.ts';

const DAY = 86_400_000;
const MONDAY = Date.parse('2026-06-01T00:00:00Z');
const config = loadConfig({
  SWITCHYARD_TRACKING_SECRET: 'test-secret',
  SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
  SWITCHYARD_MESSAGES_POSTAL_ADDRESS: '1 Main St, Springfield',
  SWITCHYARD_ANOMALY_GRANULARITIES: '',
  SWITCHYARD_ALERT_FROM: 'reports@mail.example.com',
  SWITCHYARD_REPORTS: JSON.stringify([
    {
      name: 'weekly-exec',
      cron: '0 7 * * 1',
      recipients: ['ceo@example.com', 'cfo@example.com'],
      period: 'week',
      models: ['last', 'linear', 'markov'],
    },
  ]),
});

/** The first page of a PDF as pdftoppm renders it (grayscale PNG, 50 dpi), decoded. */
function firstPage(pdf: Buffer): ReturnType<typeof pngLuminance> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-report-'));
  try {
    writeFileSync(join(dir, 'r.pdf'), pdf);
    execFileSync('/usr/bin/pdftoppm', [
      '-png',
      '-gray',
      '-r',
      '50',
      '-f',
      '1',
      '-l',
      '1',
      join(dir, 'r.pdf'),
      join(dir, 'p'),
    ]);
    return pngLuminance(readFileSync(join(dir, 'p-1.png')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function blankPdf(): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4' });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));
  doc.on('data', (c: Buffer) => chunks.push(c));
  doc.end();
  return done;
}

for (const tdb of await testDatabases()) describeReports(tdb);

function describeReports(tdb: TestDatabase): void {
  describe(`executive reports (${tdb.label})`, { skip: tdb.skip }, () => {
    let db: Db;
    let passed = 0;
    let app: App;
    const sandbox = capturedSandbox();
    let admin: AuthHeaders;
    const clock = createManualClock(new Date(MONDAY + 6 * DAY + 12 * 3_600_000)); // Sunday noon

    before(async () => {
      db = await tdb.open();
      app = await createApp(config, {
        db,
        clock,
        log: pino({ level: 'silent' }),
        esp: sandbox.factory,
      });
      admin = await authHeaders(app);
      for (const id of ['cmp-a', 'cmp-b'])
        await db.query(
          `insert into campaigns (id, name, status, definition, created_at, updated_at)
         values ($1, $1, 'running', $2, $3, $3)`,
          [id, { name: id, audience: { source: 'demo' } }, new Date(MONDAY - 7 * DAY)],
        );
      // six contacts click during the week (a on odd, b on even contacts); five of them pay
      for (let i = 1; i <= 6; i++) {
        const clickAt = new Date(MONDAY + i * 0.8 * DAY);
        await db.query(
          `insert into engagement_events (source_id, type, provider, occurred_at, received_at, campaign_id, contact_id,
                                        is_machine, url)
         values ($1, 'clicked', 'test', $2, $2, $3, $4, false, 'https://shop.example.com/')`,
          [`click-${i}`, clickAt, i % 2 === 1 ? 'cmp-a' : 'cmp-b', `contact-${i}`],
        );
        if (i <= 5)
          await db.query(
            `insert into billing_conversions (id, source, contact_hint, amount_minor, currency, occurred_at, event_id)
           values ($1, 'stripe', $2, $3, 'usd', $4, $1)`,
            [`stripe:invoice:in_${i}`, `contact-${i}`, 10_000 * i, new Date(clickAt.getTime() + 3_600_000)],
          );
      }
    });
    after(async () => {
      await app?.close();
      await tdb.close(passed === 8);
    });

    const reportMails = () => sandbox.esp.outbox().filter((m) => m.subject.startsWith('weekly-exec'));

    it('the first tick starts the schedule and sends nothing', async () => {
      assert.deepEqual(await app.reports.runDue(), []);
      passed++;
    });

    it('at Monday 07:00 the report goes to each recipient once, with the numbers the API serves', async () => {
      await clock.advance(19 * 3_600_000 + 30_000); // Monday 07:00:30
      const [run, ...rest] = await app.reports.runDue();
      assert.equal(rest.length, 0);
      assert.equal(run?.scheduledAt, '2026-06-08T07:00:00.000Z');
      assert.equal(run?.recipients, 2);
      await drain(app, { only: ['send'] });
      assert.deepEqual(
        reportMails()
          .map((m) => m.to)
          .sort(),
        ['ceo@example.com', 'cfo@example.com'],
      );
      assert.equal(reportMails()[0]?.subject, 'weekly-exec: 2026-06-01 to 2026-06-08');
      // the PDF rides along as an attachment (the sandbox ESP sends attachments)
      for (const m of reportMails()) {
        assert.equal(m.attachments.length, 1);
        assert.equal(m.attachments[0]?.filename, 'weekly-exec-2026-06-08.pdf');
        assert.equal(m.attachments[0]?.contentType, 'application/pdf');
        assert.ok((m.attachments[0]?.bytes ?? 0) > 1000);
      }
      // the email's HTML carries inline SVG charts and the API's figures for the same period
      const { rows } = await db.query<{ html: string }>(
        `select definition->'template'->>'html' as html from campaigns where definition->>'name' = 'report message'`,
      );
      assert.equal(rows.length, 2);
      const html = rows[0]?.html ?? '';
      assert.ok((html.match(/<svg /g) ?? []).length >= 4, 'charts: models, top, channels, trend');
      for (const model of ['last', 'linear', 'markov']) {
        const api = await app.adminServer.inject({
          method: 'GET',
          url:
            '/v1/attribution/report?from=2026-06-01T07:00:00Z&to=2026-06-08T07:00:00Z'
            + `&model=${model}&groupBy=campaign`,
          headers: admin,
        });
        assert.equal(api.statusCode, 200, api.body);
        const attributed = api.json().totals.attributedMinor as number;
        assert.ok(attributed > 0);
        assert.ok(
          html.includes(`${model}: ${formatMinor(attributed, 'usd')}`),
          `${model} ${formatMinor(attributed, 'usd')}`,
        );
      }
      passed++;
    });

    it('an ESP that does not send attachments gets none: the message service refuses them', async () => {
      const plain = createMessageService({ db, bus: app.bus, clock }, { ...config.messages, attachments: false });
      const err = await plain
        .send({
          idempotencyKey: 'attach-refused',
          category: 'report',
          to: { email: 'ceo@example.com' },
          from: { address: 'reports@mail.example.com' },
          subject: 'r',
          template: { text: 'r' },
          attachments: [{ filename: 'r.pdf', contentType: 'application/pdf', contentBase64: 'JVBERi0=' }],
        })
        .catch((e: unknown) => e);
      assert.equal((err as { code?: string }).code, 'MESSAGE_INVALID');
      assert.match((err as Error).message, /does not send attachments/);
      passed++;
    });

    it("files over the ESP's attachment cap are refused by the message service, naming the cap", async () => {
      const capped = createMessageService(
        { db, bus: app.bus, clock },
        { ...config.messages, attachments: true, maxAttachmentBytes: 8 },
      );
      const err = await capped
        .send({
          idempotencyKey: 'attach-over-cap',
          category: 'report',
          to: { email: 'ceo@example.com' },
          from: { address: 'reports@mail.example.com' },
          subject: 'r',
          template: { text: 'r' },
          attachments: [{ filename: 'r.pdf', contentType: 'application/pdf', contentBase64: 'JVBERi0xLjQK' }],
        })
        .catch((e: unknown) => e);
      assert.equal((err as { code?: string }).code, 'MESSAGE_INVALID');
      assert.match((err as Error).message, /more than the configured ESP takes \(8\)/);
      passed++;
    });

    it('the PDF renders to a page that is not blank (pdftoppm)', async () => {
      const pdf = await app.reports.pdf('weekly-exec', new Date('2026-06-08T07:00:00Z'));
      assert.ok(pdf !== null);
      assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
      const page = firstPage(pdf);
      assert.ok(page.width > 100 && page.height > 100);
      const blank = variance(firstPage(await blankPdf()).values);
      assert.ok(blank < 1, `a blank page has no variance (${blank})`);
      const drawn = variance(page.values);
      assert.ok(drawn > 200, `the report page has ink (variance ${drawn})`);
      const dark = page.values.filter((v) => v < 128).length / page.values.length;
      assert.ok(dark > 0.01, `dark pixels ${dark}`);
      passed++;
    });

    it('another tick sends nothing; after a two-week outage a new scheduler sends the missed Mondays', async () => {
      assert.deepEqual(await app.reports.runDue(), []);
      await clock.advance(14 * DAY);
      const restarted = createReportService(
        {
          db,
          clock,
          log: pino({ level: 'silent' }),
          attribution: app.attribution,
          anomalies: app.anomalies,
          messages: app.messages,
        },
        { ...config.reports, attachPdf: true },
      );
      const runs = await restarted.runDue();
      assert.deepEqual(
        runs.map((r) => r.scheduledAt),
        ['2026-06-15T07:00:00.000Z', '2026-06-22T07:00:00.000Z'],
      );
      assert.deepEqual(await restarted.runDue(), []);
      await drain(app, { only: ['send'] });
      assert.equal(reportMails().length, 6);
      passed++;
    });

    it('POST /v1/reports/:name/run sends now, once per minute; admin only; an unknown name is a 404', async () => {
      const run = () =>
        app.adminServer.inject({ method: 'POST', url: '/v1/reports/weekly-exec/run', headers: admin, payload: {} });
      // the minute of the scheduled run is that run: nothing is sent twice
      const same = await run();
      assert.equal(same.statusCode, 200, same.body);
      assert.equal(same.json().sent, false);
      await clock.advance(5 * 60_000);
      const first = await run();
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json().sent, true);
      assert.ok(first.json().pdfBytes > 1000);
      const again = await run();
      assert.equal(again.json().sent, false);
      await drain(app, { only: ['send'] });
      assert.equal(reportMails().length, 8);
      const analyst = await authHeaders(app, 'analyst');
      const refused = await app.adminServer.inject({
        method: 'POST',
        url: '/v1/reports/weekly-exec/run',
        headers: analyst,
        payload: {},
      });
      assert.equal(refused.statusCode, 403);
      const unknown = await app.adminServer.inject({
        method: 'POST',
        url: '/v1/reports/nope/run',
        headers: admin,
        payload: {},
      });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().error, 'NOT_FOUND');
      passed++;
    });

    it('`switchyard report run NAME` calls the running server and says what it queued', async () => {
      await clock.advance(60_000);
      const base = await app.adminServer.listen({ port: 0, host: '127.0.0.1' });
      const program = new Command().exitOverride();
      registerReportCommands(program, () => ({ base, key: admin.authorization.slice(7), keyHint: 'test' }));
      const printed: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string) => {
        printed.push(String(chunk));
        return true;
      }) as typeof process.stdout.write;
      try {
        await program.parseAsync(['node', 'switchyard', 'report', 'run', 'weekly-exec']);
      } finally {
        process.stdout.write = write;
      }
      assert.match(printed.join(''), /^report weekly-exec \(.+\) queued to 2 recipient\(s\), PDF \d+ bytes\n$/);
      passed++;
    });
  });
}
