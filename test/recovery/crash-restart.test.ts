/**
 * The crash test: `switchyard start` (demo workspace, sandbox ESP, PostgreSQL store) is
 * SIGKILLed mid-campaign and started again. The new process declares the dead instance stopped
 * from its stale heartbeat and releases its leases at once: its log names the dead instance and
 * what was released, and the campaign completes before any released lease (120 s) could have
 * ended, by the timestamps the app itself stored. Afterwards no ledger row is left `sending`, and
 * the sandbox's simulated events (kept in the store) all came out: nothing is left pending.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { postgresUnreachable, TEST_DATABASE_URL, uniqueName } from '../support/databases.ts';
import { type ServerProcess, startServerProcess } from '../support/server-process.ts';

const AUDIENCE = 1500;
const reason = await postgresUnreachable();

/** Polls with the real clock: only a generous bound on a test that would otherwise hang. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, boundMs = 120_000): Promise<T> {
  const end = Date.now() + boundMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('crash and restart of switchyard start', { skip: reason ?? undefined }, () => {
  const schema = uniqueName('crash');
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-crash-'));
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const sql = new pg.Client({ connectionString: url.toString() });
  let passed = false;
  after(async () => {
    if (passed) await sql.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await sql.end().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a restarted process takes over the dead one at once; nothing stays in doubt', async (t) => {
    await sql.connect();
    await sql.query(`create schema ${schema}`);
    const env = {
      ...process.env,
      DATABASE_URL: url.toString(),
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_DEMO_SIZE: String(AUDIENCE),
      SWITCHYARD_LEASE_MS: '120000',
      // slow enough to be killed mid-campaign with chunks leased
      SWITCHYARD_ESP_RATE_PER_SEC: '100',
      SWITCHYARD_WORKER_BATCH: '4',
      LOG_LEVEL: 'info',
    };
    const first = await startServerProcess(t, env);
    const key = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
    const api = async (server: ServerProcess, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server.adminUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const created = await api(first, 'POST', '/v1/campaigns', demoCampaign());
    const id = created.id as string;
    await api(first, 'POST', `/v1/campaigns/${id}/start`, {});

    // mid-campaign: some messages handed to the sandbox, send chunks leased by the first process
    // the same lease seen on two polls in a row: a chunk still being sent, not one about to settle
    let seen: string | undefined;
    const firstInstance = await until('sends and a send lease of the first process', async () => {
      const { rows } = await sql.query<{ id: string; instance_id: string; sent: number }>(
        `select l.id::text, l.instance_id,
           (select count(*)::int from send_ledger
            where campaign_id = $1 and state in ('sent', 'delivered', 'bounced')) as sent
         from bus_leases l join process_instances p on p.id = l.instance_id
         where l.topic like 'blast.ready.%' order by l.id limit 1`,
        [id],
      );
      const r = rows[0];
      const stable = r !== undefined && r.sent >= 50 && seen === r.id;
      seen = r?.id;
      return stable ? r.instance_id : undefined;
    });
    assert.notEqual(await first.stop('SIGKILL'), 0);
    const { rows: leased } = await sql.query<{ n: number; until: Date }>(
      'select count(*)::int as n, min(lease_until) as until from bus_leases where instance_id = $1',
      [firstInstance],
    );
    assert.ok(leased[0]!.n > 0, 'the dead process held leases');
    const earliestLeaseEnd = leased[0]!.until;
    const { rows: pending } = await sql.query<{ n: number }>(
      `select count(*)::int as n from send_ledger where campaign_id = $1 and state = 'sent'`,
      [id],
    );

    const { rows: simulated } = await sql.query<{ n: number }>('select count(*)::int as n from sandbox_events');
    assert.ok(simulated[0]!.n > 0, 'the dead process left simulated events to come');

    const second = await startServerProcess(t, env);
    const report = await until('the recovery line in the new log', async () =>
      second
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"recovered"'))
        .map((l) => JSON.parse(l) as { msg: string; recovered: { instance: string; leases: number } })
        .find((l) => l.recovered.instance === firstInstance),
    );
    assert.ok(report.recovered.leases > 0);
    assert.match(report.msg, new RegExp(`stopped instance ${firstInstance}.*released \\d+ leases, \\d+ messages`));

    const campaign = await until('the campaign to complete', async () => {
      const status = (await api(second, 'GET', `/v1/campaigns/${id}/status`)) as {
        campaign: { status: string; finishedAt: string | null };
      };
      return status.campaign.status === 'completed' ? status.campaign : undefined;
    });
    // the app's own clock: completed before any lease of the dead process would have ended
    assert.ok(
      new Date(campaign.finishedAt!).getTime() < earliestLeaseEnd.getTime(),
      `completed at ${campaign.finishedAt}, the dead process's leases ran to ${earliestLeaseEnd.toISOString()}`,
    );

    // the sandbox's events, including those the dead process accepted, all come out
    const states = await until('no simulated event pending and no row in doubt', async () => {
      const { rows: left } = await sql.query<{ n: number }>('select count(*)::int as n from sandbox_events');
      const { rows } = await sql.query<{ state: string; n: number }>(
        'select state, count(*)::int as n from send_ledger where campaign_id = $1 group by state',
        [id],
      );
      const byState = Object.fromEntries(rows.map((r) => [r.state, r.n]));
      return left[0]!.n === 0 && (byState.sending ?? 0) === 0 ? byState : undefined;
    });
    assert.equal(states.sending ?? 0, 0);
    assert.equal(states.rendered ?? 0, 0);
    // rows stay `sent` only where the sandbox simulates no report at all (~1%), not the rows
    // whose events the dead process held
    assert.ok(
      (states.sent ?? 0) <= Math.max(0.03 * AUDIENCE, 5),
      `rows left sent: ${JSON.stringify(states)} (${pending[0]!.n} were sent at the kill)`,
    );
    t.diagnostic(
      `${report.msg}; at the kill ${pending[0]!.n} rows sent, ${simulated[0]!.n} with simulated events to come; `
        + `at the end ${JSON.stringify(states)}`,
    );
    assert.equal(await second.stop('SIGTERM'), 0);
    const { rows: instances } = await sql.query('select id from process_instances');
    assert.deepEqual(instances, [], 'a clean stop removes its instance row');
    passed = true;
  });
});
