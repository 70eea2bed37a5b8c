/**
 * Chaos: the pipeline worker process (select, prepare, send over SMTP into a real local SMTP
 * server) is SIGKILLed at random points three times during one campaign on PostgreSQL. After the
 * last restart the campaign completes, and the ledger and the SMTP server agree: nobody got two
 * messages; every row the ledger counts as sent is at the server and every message at the server
 * is in the ledger; every eligible recipient is accounted for. The only rows allowed to differ
 * are the ones the ledger itself reports as `unknown` — committed at the final dot by a worker
 * that died before the server answered, which no SMTP client can resolve — and there are at
 * most as many of those per kill as the SMTP adapter's commit window (set to 5 here).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import fc from 'fast-check';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPostgresDb } from '../../src/store/postgres/adapter.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { TEST_DATABASE_URL, postgresUnreachable, servicesRequired, uniqueName } from '../support/databases.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;
const AUDIENCE = 6000;
const LEASE_MS = 3000;

describe('chaos: SIGKILL the blast worker mid-campaign', async () => {
  const reason = await postgresUnreachable();
  if (reason !== null && servicesRequired) throw new Error(reason);

  it('three kills, then the campaign completes with zero duplicates and zero missing', {
    skip: reason ?? undefined,
    timeout: 240_000,
  }, async (t) => {
    const schema = uniqueName('chaos');
    const url =
      `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}options=`
      + `${encodeURIComponent(`-c search_path=${schema},public`)}`;
    const db = await createPostgresDb({ url: TEST_DATABASE_URL, schema });
    await migrate(db);
    const sink = await startSmtpSink();
    const env = {
      ...process.env,
      DATABASE_URL: url,
      SWITCHYARD_ESP: 'smtp',
      SWITCHYARD_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
      SWITCHYARD_LEASE_MS: String(LEASE_MS),
      SWITCHYARD_SMTP_COMMIT_WINDOW: '5',
      SWITCHYARD_TRACKING_SECRET: 'chaos',
      LOG_LEVEL: 'silent',
      SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'chaos-')),
    };
    const app = await createApp(loadConfig(env), { db, log: pino({ level: 'silent' }) });
    // on failure too: stop the workers and close everything, or the failed test hangs the file
    const children: ChildProcess[] = [];
    t.after(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await app.close();
      await sink.close();
      await db.close();
    });
    const completed = new Promise<void>((resolve) => {
      void db.listen('switchyard_bus', async (topic) => {
        if (topic === 'campaign.events' && (await app.campaigns.get(c.id)).status === 'completed') resolve();
      });
    });
    const c = await app.campaigns.create(demoCampaign({ audience: { source: 'demo', size: AUDIENCE, seed: 5 } }));
    await app.campaigns.start(c.id);

    let stderr = '';
    const worker = (): { child: ChildProcess; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [BIN, 'worker', '--stage', 'select', 'prepare', 'send'], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
    };
    /** Resolves when the sink has n messages; rejects if the worker exits first. */
    const progress = (n: number, w: { exited: Promise<number | null> }): Promise<void> =>
      Promise.race([
        sink.waitFor(n),
        w.exited.then((code) => {
          throw new Error(`worker exited (${code}) at ${sink.count()} messages: ${stderr}`);
        }),
      ]);
    // kill points: random message counts (seeded, reproducible) spread over the campaign
    const [a, b, d] = fc.sample(
      fc.tuple(
        fc.integer({ min: 200, max: 900 }),
        fc.integer({ min: 1200, max: 2200 }),
        fc.integer({ min: 2600, max: 3600 }),
      ),
      { numRuns: 1, seed: 42 },
    )[0]!;
    for (const point of [a, b, d]) {
      const w = worker();
      await progress(point, w);
      w.child.kill('SIGKILL');
      await w.exited;
    }
    const killedAt = sink.count();
    const last = worker();
    await Promise.race([
      completed,
      last.exited.then((code) => {
        throw new Error(`worker exited (${code}): ${stderr}`);
      }),
    ]);
    last.child.kill('SIGTERM');
    await last.exited;

    const { rows } = await db.query<{ email: string; state: string }>(
      `select email, state from send_ledger where campaign_id = $1`,
      [c.id],
    );
    // the ledger holds addresses sealed (src/privacy/; the workers share this data directory's keys)
    const opened = await app.privacy.openMany(rows.map((r) => r.email));
    rows.forEach((r, i) => {
      r.email = opened[i]!;
    });
    const received = sink.messages().map((m) => m.envelope.rcptTo[0]!.toLowerCase());
    assert.ok(killedAt < received.length, `the kills happened mid-campaign (${killedAt} of ${received.length})`);
    assert.equal(new Set(received).size, received.length, 'zero duplicates at the SMTP server');
    assert.equal(rows.length, AUDIENCE, 'every recipient has a ledger row');
    const byState = (state: string): Set<string> => new Set(rows.filter((r) => r.state === state).map((r) => r.email));
    const sent = byState('sent');
    const unknown = byState('unknown');
    const atServer = new Set(received);
    const missing = [...sent].filter((e) => !atServer.has(e));
    const unrecorded = [...atServer].filter((e) => !sent.has(e) && !unknown.has(e));
    assert.deepEqual({ missing, unrecorded }, { missing: [], unrecorded: [] }, 'the ledger and the SMTP server agree');
    assert.deepEqual(
      [...new Set(rows.map((r) => r.state))].filter((s) => !['sent', 'unknown', 'suppressed'].includes(s)),
      [],
    );
    t.diagnostic(
      `kills at ${a}, ${b}, ${d} messages; ${received.length} received; ${sent.size} sent; ${unknown.size} in doubt`,
    );
    // the SMTP adapter's commit window (set to 5 here) holds every message from its
    // ledger commit until its `sent` row is written, so one kill leaves at most that many in doubt
    assert.ok(unknown.size <= 5 * 3, `in-doubt rows are bounded by the commit window × kills (${unknown.size})`);
    const {
      rows: [open],
    } = await db.query<{ n: number }>(
      `select count(*)::int as n from send_ledger where campaign_id = $1 and state in ('rendered', 'retry')`,
      [c.id],
    );
    assert.equal(open!.n, 0);

    await db.exec(`drop schema ${schema} cascade`);
  });
});
