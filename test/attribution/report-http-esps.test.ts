/**
 * Executive reports through each HTTP ESP, as app.ts wires them (PGlite, manual clock): `report
 * run` queues the report, the send stage hands it to SendGrid / Mailgun / SES / Postmark (local
 * servers speaking each vendor's wire format), and every recipient's email carries the run's PDF,
 * which the server decodes back to exactly the bytes the API keeps for download. A PDF over the
 * ESP's attachment cap is sent without it (kept for download), never as a failed message.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import { createMailgunEsp } from '../../src/connectors/esp/mailgun/adapter.ts';
import type { Esp } from '../../src/connectors/esp/port.ts';
import { createPostmarkEsp } from '../../src/connectors/esp/postmark/adapter.ts';
import { createSendGridEsp } from '../../src/connectors/esp/sendgrid/adapter.ts';
import { createSesEsp } from '../../src/connectors/esp/ses/adapter.ts';
import type { Clock } from '../../src/clock/port.ts';
import type { Db } from '../../src/store/port.ts';
import type { ReceivedMessage } from '../connectors/esp/port.contract.ts';
import { testDatabases } from '../support/databases.ts';
import { startFakeMailgun } from '../support/fake-mailgun.ts';
import { startFakePostmark } from '../support/fake-postmark.ts';
import { startFakeSendGrid } from '../support/fake-sendgrid.ts';
import { startFakeSes } from '../support/fake-ses.ts';
import { drain } from '../support/pipeline.ts';

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
      models: ['last', 'linear'],
    },
  ]),
});

interface Peer {
  esp(clock: Clock): Esp;
  received(): ReceivedMessage[];
  close(): Promise<void>;
}

const peers: Record<string, () => Promise<Peer>> = {
  async sendgrid() {
    const f = await startFakeSendGrid();
    return {
      esp: (clock) => createSendGridEsp({ clock }, { baseUrl: f.baseUrl, apiKey: f.apiKey }),
      received: () => f.received,
      close: f.close,
    };
  },
  async mailgun() {
    const f = await startFakeMailgun();
    return {
      esp: (clock) => createMailgunEsp({ clock }, { baseUrl: f.baseUrl, domain: f.domain, apiKey: f.apiKey }),
      received: () => f.received,
      close: f.close,
    };
  },
  async ses() {
    const f = await startFakeSes();
    return {
      esp: (clock) => createSesEsp({ clock }, { baseUrl: f.baseUrl, region: f.region, credentials: f.credentials }),
      received: () => f.received,
      close: f.close,
    };
  },
  async postmark() {
    const f = await startFakePostmark();
    return {
      esp: (clock) => createPostmarkEsp({ clock }, { baseUrl: f.baseUrl, serverToken: f.token }),
      received: () => f.received,
      close: f.close,
    };
  },
};

const [pglite] = await testDatabases();

describe('executive report PDFs over the HTTP ESPs (pglite)', () => {
  let db: Db;
  let passed = 0;
  before(async () => {
    db = await pglite!.open();
  });
  after(async () => {
    await pglite!.close(passed === Object.keys(peers).length + 1);
  });

  /** Runs the report now through an app whose ESP is `peer`'s (its cap overridden when given). */
  async function runThrough(peer: Peer, minute: number, cap?: number) {
    const clock = createManualClock(new Date(MONDAY + 7 * 86_400_000 + minute * 60_000));
    let app: App | undefined;
    try {
      app = await createApp(config, {
        db,
        clock,
        log: pino({ level: 'silent' }),
        esp: (d) => {
          const esp = peer.esp(d.clock);
          return cap === undefined ? esp : { ...esp, maxAttachmentBytes: cap };
        },
      });
      const run = await app.reports.runNow('weekly-exec');
      await drain(app, { only: ['send'] });
      const pdf = await app.reports.pdf('weekly-exec', new Date(run.scheduledAt));
      const mails = peer.received().filter((m) => m.subject.startsWith('weekly-exec'));
      return { run, pdf, mails };
    } finally {
      await app?.close();
    }
  }

  for (const [minute, [vendor, start]] of Object.entries(peers).entries()) {
    it(`${vendor}: every recipient's report email carries the run's PDF, byte for byte`, async () => {
      const peer = await start();
      try {
        const { run, pdf, mails } = await runThrough(peer, minute);
        assert.equal(run.pdfAttached, true);
        assert.ok(pdf !== null && pdf.length > 1000);
        assert.deepEqual(mails.map((m) => m.to).sort(), ['ceo@example.com', 'cfo@example.com']);
        for (const m of mails) {
          assert.equal(m.attachments?.length, 1);
          const [file] = m.attachments!;
          assert.equal(file!.filename, `weekly-exec-${run.scheduledAt.slice(0, 10)}.pdf`);
          assert.equal(file!.contentType.split(';')[0], 'application/pdf');
          assert.ok(file!.content.equals(pdf), 'the decoded attachment differs from the kept PDF');
        }
      } finally {
        await peer.close();
      }
      passed++;
    });
  }

  it("a PDF over the ESP's attachment cap is sent without it and kept for download", async () => {
    const peer = await peers['postmark']!();
    try {
      const { run, pdf, mails } = await runThrough(peer, 30, 1000);
      assert.equal(run.pdfAttached, false);
      assert.ok(pdf !== null && pdf.length > 1000);
      assert.equal(mails.length, 2);
      for (const m of mails) assert.deepEqual(m.attachments, []);
    } finally {
      await peer.close();
    }
    passed++;
  });
});
