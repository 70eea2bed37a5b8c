/**
 * The replay guard on both stores: a key is claimed once (also under concurrent claims from two
 * guards, as from two processes), given back on release, and pruned set-wise once expired. On
 * the PostgreSQL server a signed batch with NUL and unpaired surrogates is replayed too, since
 * the server, not PGlite, is what production refuses with 22P05.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock/manual.ts';
import { createWebhookReplayGuard } from '../../src/reactions/webhook-replay.ts';
import { testDatabases } from '../support/databases.ts';
import { createWebhookStack, T } from '../support/webhook-stack.ts';

for (const tdb of await testDatabases()) {
  describe(`webhook replay guard on ${tdb.label}`, { skip: tdb.skip }, () => {
    let passed = true;
    after(() => tdb.close(passed));
    const check = (name: string, fn: () => Promise<void>): void => {
      it(name, async () => {
        try {
          await fn();
        } catch (err) {
          passed = false;
          throw err;
        }
      });
    };
    const key = (s: string): string => `${tdb.label}-${s}`;

    check(
      'a key is claimed once, even by two guards at the same time; the same body again is a redelivery, '
        + 'another body a replay; release gives it back',
      async () => {
        const db = await tdb.open();
        const clock = createManualClock(new Date('2026-03-01T00:00:00Z'));
        const a = createWebhookReplayGuard({ db, clock });
        const b = createWebhookReplayGuard({ db, clock });
        const until = new Date(clock.now().getTime() + 60_000);
        const body = Buffer.from('{"event":"complained"}');
        const both = await Promise.all([
          a.claim('mailgun', key('k1'), until, body),
          b.claim('mailgun', key('k1'), until, body),
        ]);
        assert.deepEqual(both.sort(), ['new', 'redelivery']);
        assert.equal(await a.claim('mailgun', key('k1'), until, Buffer.from('{"event":"unsubscribed"}')), 'replay');
        assert.equal(await a.claim('sendgrid', key('k1'), until, body), 'new', 'keys are per vendor');
        await a.release('mailgun', key('k1'));
        assert.equal(await b.claim('mailgun', key('k1'), until, body), 'new');
      },
    );
    check('claims made at once by one guard share a statement and still get one verdict each', async () => {
      const db = await tdb.open();
      const clock = createManualClock(new Date('2026-03-02T00:00:00Z'));
      const guard = createWebhookReplayGuard({ db, clock });
      const until = new Date(clock.now().getTime() + 60_000);
      const body = Buffer.from('{"event":"open"}');
      const verdicts = await Promise.all([
        guard.claim('mailgun', key('g0'), until, body), // written alone; the next four share one statement
        guard.claim('mailgun', key('g1'), until, body),
        guard.claim('mailgun', key('g1'), until, body),
        guard.claim('mailgun', key('g1'), until, Buffer.from('{"event":"click"}')),
        guard.claim('mailgun', key('g0'), until, body),
      ]);
      assert.deepEqual(verdicts, ['new', 'new', 'redelivery', 'replay', 'redelivery']);
    });
    check('expired keys are pruned set-wise at most once per interval, live ones kept', async () => {
      const db = await tdb.open();
      const clock = createManualClock(new Date('2026-04-01T00:00:00Z'));
      const guard = createWebhookReplayGuard({ db, clock }, { pruneEveryMs: 60_000 });
      const at = (ms: number): Date => new Date(clock.now().getTime() + ms);
      await guard.claim('mailgun', key('short'), at(1_000), Buffer.from('1'));
      await guard.claim('mailgun', key('long'), at(3_600_000), Buffer.from('2'));
      await clock.advance(2_000);
      await guard.claim('mailgun', key('x1'), at(60_000), Buffer.from('3')); // within the interval: no prune yet
      const alive = async (): Promise<string[]> =>
        (
          await db.query<{ replay_key: string }>(
            'select replay_key from webhook_replay where replay_key = any($1::text[]) order by replay_key',
            [[key('short'), key('long')]],
          )
        ).rows.map((r) => r.replay_key);
      assert.deepEqual(await alive(), [key('long'), key('short')].sort());
      await clock.advance(60_000);
      await guard.claim('mailgun', key('x2'), at(60_000), Buffer.from('4'));
      assert.deepEqual(await alive(), [key('long')]);
    });
    if (tdb.label === 'postgres') {
      check(
        'a signed SendGrid batch with NUL and unpaired surrogates: 200, the valid unsubscribe suppresses',
        async () => {
          const db = await tdb.open();
          const s = await createWebhookStack(db);
          const body = JSON.stringify([
            {
              event: 'unsubscribe',
              sg_event_id: 'pg-nul-1',
              email: 'pg-ok@example.org',
              timestamp: T,
              useragent: '\u0000',
              'k\ud800': '\udfff',
            },
            { event: 'bounce', sg_event_id: 'pg-nul-\u0000', email: 'pg-bad@example.org', timestamp: T },
          ]);
          const res = await s.app.inject({
            method: 'POST',
            url: '/webhooks/sendgrid',
            payload: body,
            headers: s.sendgrid.headers(body, T),
          });
          assert.deepEqual(res.json(), { accepted: 1, duplicates: 0, rejected: 1, ignored: 0 });
          assert.equal(await s.isSuppressed('pg-ok@example.org'), true);
          await s.app.close();
        },
      );
    }
  });
}
