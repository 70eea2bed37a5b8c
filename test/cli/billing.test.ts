/**
 * `switchyard billing backfill`, spawned as a user would run it (temporary PGlite data dir) against
 * a local server speaking Stripe's wire format: it pages the lists and prints one line per list;
 * rerun, everything is a duplicate; bad arguments and a missing key exit 2.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeStripe, startFakeStripe } from '../support/fake-stripe.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

// async: the local Stripe answers from this process while the CLI runs
function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, encoding: 'utf8', timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('switchyard billing backfill', () => {
  let stripe: FakeStripe;
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-billing-cli-'));
  before(async () => {
    stripe = await startFakeStripe();
    for (let i = 1; i <= 3; i++)
      stripe.lists.invoices.push({
        id: `in_cli${i}`,
        object: 'invoice',
        customer: 'cus_cli',
        status: 'paid',
        amount_paid: 100 * i,
        currency: 'usd',
        created: 1_780_000_000 + i,
      });
  });
  after(() => stripe.close());
  const env = () => ({
    SWITCHYARD_DATA_DIR: dataDir,
    SWITCHYARD_STRIPE_SECRET_KEY: stripe.secretKey,
    SWITCHYARD_STRIPE_API_URL: stripe.baseUrl,
  });

  it('pages the lists and applies them; a rerun is all duplicates', async () => {
    const first = await run(['billing', 'backfill', '--page-size', '2', '--lists', 'invoices,charges'], env());
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^invoices +pages 2 {2}objects 3 {2}applied 3 {2}duplicates 0/m);
    assert.match(first.stdout, /^charges +pages 1 {2}objects 0/m);
    const second = await run(['billing', 'backfill', '--page-size', '2', '--lists', 'invoices'], env());
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^invoices +pages 2 {2}objects 3 {2}applied 0 {2}duplicates 3/m);
    assert.equal(stripe.requests.filter((q) => q.query.get('starting_after') === 'in_cli2').length, 2);
  });

  it('bad arguments and a missing Stripe key exit 2 with one line', async () => {
    const since = await run(['billing', 'backfill', '--since', 'yesterday'], env());
    assert.equal(since.code, 2);
    assert.match(since.stderr, /--since "yesterday" is not an ISO date/);
    const lists = await run(['billing', 'backfill', '--lists', 'payouts'], env());
    assert.equal(lists.code, 2);
    assert.match(lists.stderr, /unknown list payouts; lists: customers, invoices, charges, subscriptions/);
    const noKey = await run(['billing', 'backfill'], { SWITCHYARD_DATA_DIR: dataDir });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /CONFIG_INVALID: SWITCHYARD_STRIPE_SECRET_KEY is not set/);
  });
});
