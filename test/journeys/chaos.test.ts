/**
 * Chaos: a worker process running the journey dispatcher and the send stage (SMTP into a real
 * local SMTP server) is SIGKILLed three times while 2000 contacts go through a journey on
 * PostgreSQL (email → wait → branch → one of two emails). After the last restart every run has
 * ended and nobody got a message twice: each contact got the first email and exactly the one
 * email its branch chose. The only messages allowed to be missing are the ledger's `unknown`
 * rows (committed at the final dot by a worker that died before the server answered, at most
 * the SMTP commit window per kill), never resent.
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
import { TEST_DATABASE_URL, postgresUnreachable, servicesRequired, uniqueName } from '../support/databases.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;
const CONTACTS = 2000;

/** Polls durable state the worker process writes (no event reaches this process for it). */
async function until(probe: () => Promise<boolean>, what: string, ms = 180_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('chaos: SIGKILL the journey worker mid-journey', async () => {
  const reason = await postgresUnreachable();
  if (reason !== null && servicesRequired) throw new Error(reason);

  it('three kills, then every run ends and no contact got a message twice', {
    skip: reason ?? undefined,
    timeout: 300_000,
  }, async (t) => {
    const schema = uniqueName('jchaos');
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
      SWITCHYARD_LEASE_MS: '3000',
      SWITCHYARD_SMTP_COMMIT_WINDOW: '5',
      // small passes and a short lease, so kills land mid-pass and a dead worker's runs come back soon
      SWITCHYARD_JOURNEY_BATCH: '150',
      SWITCHYARD_JOURNEY_LEASE_MS: '1500',
      SWITCHYARD_TRACKING_SECRET: 'chaos',
      LOG_LEVEL: 'silent',
      SWITCHYARD_DATA_DIR: mkdtempSync(join(tmpdir(), 'jchaos-')),
    };
    const app = await createApp(loadConfig(env), { db, log: pino({ level: 'silent' }) });
    const children: ChildProcess[] = [];
    t.after(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await app.close();
      await sink.close();
      await db.close();
    });
    await app.journeys.save('chaos', {
      name: 'Chaos',
      trigger: { type: 'manual' },
      from: { address: 'hello@mail.example.com' },
      postalAddress: '1 Main St, Springfield',
      start: 'first',
      steps: [
        { id: 'first', type: 'email', subject: 'first', template: { text: 'Hello' }, next: 'pause' },
        { id: 'pause', type: 'wait', duration: { minutes: 0 }, next: 'plan' },
        { id: 'plan', type: 'branch', condition: { attribute: 'plan', equals: 'pro' }, yes: 'pro', no: 'free' },
        { id: 'pro', type: 'email', subject: 'pro', template: { text: 'Pro' } },
        { id: 'free', type: 'email', subject: 'free', template: { text: 'Free' } },
      ],
    });
    const contacts = Array.from({ length: CONTACTS }, (_, i) => ({
      id: `c${i}`,
      email: `c${i}@inbox.example.test`,
      attributes: { country: 'US', plan: i % 3 === 0 ? 'pro' : 'free' },
    }));
    assert.equal((await app.journeys.enter('chaos', contacts, { key: 'chaos' })).length, CONTACTS);

    let stderr = '';
    const worker = () => {
      const child = spawn(process.execPath, [BIN, 'worker', '--stage', 'journeys', 'send', 'outbox'], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      return { child, exited: new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))) };
    };
    const [a, b, c] = fc.sample(
      fc.tuple(
        fc.integer({ min: 100, max: 900 }),
        fc.integer({ min: 1200, max: 2000 }),
        fc.integer({ min: 2400, max: 3200 }),
      ),
      { numRuns: 1, seed: 17 },
    )[0]!;
    for (const point of [a, b, c]) {
      const w = worker();
      await Promise.race([
        sink.waitFor(point),
        w.exited.then((code) => {
          throw new Error(`worker exited (${code}) at ${sink.count()} messages: ${stderr}`);
        }),
      ]);
      w.child.kill('SIGKILL');
      await w.exited;
    }
    const killedAt = sink.count();
    const last = worker();
    const settled = async () => {
      const { rows } = await db.query<{ active: number; unsettled: number; rows: number }>(
        `select (select count(*)::int from journey_runs where status = 'active') as active,
                (select count(*)::int from send_ledger where state in ('rendered', 'sending', 'retry')) as unsettled,
                (select count(*)::int from send_ledger) as rows`,
      );
      return rows[0]!.active === 0 && rows[0]!.unsettled === 0 && rows[0]!.rows === 2 * CONTACTS;
    };
    await Promise.race([
      until(settled, 'every run to end and every message to settle'),
      last.exited.then((code) => {
        throw new Error(`worker exited (${code}): ${stderr}`);
      }),
    ]);
    last.child.kill('SIGTERM');
    await last.exited;

    const received = sink.messages().map((m) => {
      const subject = /^Subject: (.*)$/m.exec(m.raw.toString('latin1'))?.[1]?.trim() ?? '?';
      return `${m.envelope.rcptTo[0]!.toLowerCase()} ${subject}`;
    });
    assert.ok(killedAt < received.length, `the kills happened mid-journey (${killedAt} of ${received.length})`);
    assert.equal(new Set(received).size, received.length, 'zero duplicates at the SMTP server');
    const { rows } = await db.query<{ contact_id: string; state: string; email: string; subject: string }>(
      `select l.contact_id, l.state, l.email, c.definition->>'subject' as subject
         from send_ledger l join campaigns c on c.id = l.campaign_id`,
    );
    const unknown = rows.filter((r) => r.state === 'unknown');
    assert.deepEqual(
      [...new Set(rows.map((r) => r.state))].filter((s) => s !== 'sent' && s !== 'unknown'),
      [],
    );
    const atServer = new Set(received);
    // the ledger's addresses are sealed (docs/privacy.md): each contact's address is `<id>@inbox.example.test`
    const missing = rows.filter(
      (r) => r.state === 'sent' && !atServer.has(`${r.contact_id}@inbox.example.test ${r.subject}`),
    );
    assert.deepEqual(missing, [], 'every sent row reached the server');
    // each contact: the first email and the one its branch chose, never the other
    for (const r of rows) {
      const i = Number(r.contact_id.slice(1));
      assert.ok(r.subject === 'first' || r.subject === (i % 3 === 0 ? 'pro' : 'free'), `${r.contact_id} ${r.subject}`);
    }
    assert.ok(unknown.length <= 5 * 3, `in-doubt rows are bounded by the commit window × kills (${unknown.length})`);
    const { rows: history } = await db.query<{ n: number }>('select count(*)::int as n from journey_steps');
    assert.equal(history[0]!.n, CONTACTS * 4, 'one history row per run and step');
    t.diagnostic(`kills at ${a}, ${b}, ${c} messages; ${received.length} received; ${unknown.length} in doubt`);
    await db.exec(`drop schema ${schema} cascade`);
  });
});
