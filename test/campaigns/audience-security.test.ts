/**
 * Issue 12's audience attacks through the HTTP API as app.ts wires it: CSV paths outside
 * SWITCHYARD_CSV_DIRS (procfs environ with a NUL delimiter, password files, `..`, the data
 * directory's tracking secret, a symlink out) are refused at validate and create, and a file
 * swapped after creation fails the campaign at select; warehouse SQL that writes is refused and
 * a secret cast into an error reaches no response, status reason, dead letter or log line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';
import { TEST_DATABASE_URL, postgresUnreachable, uniqueName } from '../support/databases.ts';
import { requirePostgres } from '../support/services.ts';
import { drain } from '../support/pipeline.ts';
import { authHeaders, type AuthHeaders } from '../support/api-keys.ts';

const SECRET = 'hunter2-s3cr3t-value';
const root = mkdtempSync(join(tmpdir(), 'sy-audsec-'));
const dataDir = join(root, 'data');
const allowed = join(dataDir, 'audiences');
mkdirSync(allowed, { recursive: true });
const outside = join(root, 'outside.csv');
writeFileSync(outside, 'customer_id,email_address\ncus_leak0001,leaked-row@example.com\n');
const CSV_MAPPING = { columns: { id: 'customer_id', email: 'email_address' } };
const schema = uniqueName('aud_sec');
let ids = 0;

/** Every line (4+ characters) of `file` that appears in `text`. */
function linesOf(file: string, text: string): string[] {
  let content = '';
  try {
    content = readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  return content
    .split(/[\n\0]/)
    .map((l) => l.trim())
    .filter((l) => l.length >= 4 && text.includes(l));
}

describe('audience attacks through the API', () => {
  let db: Db;
  let app: App;
  let auth: AuthHeaders;
  let admin: pg.Client | undefined;
  const logLines: string[] = [];
  before(async () => {
    if ((await postgresUnreachable()) === null) {
      admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.query(`create table ${schema}.victim (customer_id text primary key, email_address text)`);
      await admin.query(
        `insert into ${schema}.victim values ('cus_00000001', 'a@example.com'), ('cus_00000002', 'b@example.com')`,
      );
      await admin.query(`create table ${schema}.secrets (secret text)`);
      await admin.query(`insert into ${schema}.secrets values ('1')`);
    }
    db = await createPgliteDb({});
    // no SWITCHYARD_TRACKING_SECRET: the app generates DATA_DIR/tracking-secret, a target below
    const config = loadConfig({
      SWITCHYARD_DEMO: 'false',
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_PUBLIC_URL: 'https://t.example.com',
      SWITCHYARD_WAREHOUSE_URL: TEST_DATABASE_URL,
    });
    const log = pino(
      { level: 'trace' },
      new Writable({
        write(chunk, _enc, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    );
    app = await createApp(config, { db, log, newId: () => `cmp-sec-${++ids}` });
    auth = await authHeaders(app);
  });
  after(async () => {
    await app.close();
    await db.close();
    if (admin !== undefined) {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    }
    rmSync(root, { recursive: true, force: true });
  });

  const post = (url: string, body: unknown) =>
    app.adminServer.inject({ method: 'POST', url, headers: auth, payload: body as Record<string, unknown> });
  const get = (url: string) => app.adminServer.inject({ method: 'GET', url, headers: auth });

  it(
    'CSV paths outside the directories are refused at validate and create, with nothing of the file in the ' + 'answer',
    async () => {
      const secretFile = join(dataDir, 'tracking-secret');
      assert.ok(readFileSync(secretFile, 'utf8').length > 10, 'the app generated its tracking secret');
      symlinkSync(outside, join(allowed, 'link.csv'));
      const attacks: { path: string; delimiter?: string; target: string }[] = [
        { path: '/proc/self/environ', delimiter: '\u0000', target: '/proc/self/environ' },
        { path: '/proc/self/environ', delimiter: '\t', target: '/proc/self/environ' },
        { path: '/etc/passwd', delimiter: ':', target: '/etc/passwd' },
        { path: '/etc/shadow', delimiter: ':', target: '/etc/shadow' },
        { path: '../../../../../../../etc/passwd', delimiter: ':', target: '/etc/passwd' },
        { path: '../tracking-secret', target: secretFile },
        { path: secretFile, target: secretFile },
        { path: 'link.csv', target: outside },
      ];
      for (const a of attacks) {
        const audience = {
          source: 'csv',
          path: a.path,
          mapping: CSV_MAPPING,
          ...(a.delimiter === undefined ? {} : { delimiter: a.delimiter }),
        };
        const v = await post('/v1/campaigns/validate', { ...demoCampaign(), audience });
        assert.equal(v.statusCode, 200);
        assert.equal(v.json().ok, false, a.path);
        if (a.delimiter !== '\u0000') assert.match(v.body, /AUDIENCE_PATH_NOT_ALLOWED|is not allowed/, a.path);
        const c = await post('/v1/campaigns', { ...demoCampaign(), audience });
        assert.equal(c.statusCode, 400, `${a.path}: ${c.body}`);
        assert.equal(c.json().error, a.delimiter === '\u0000' ? 'VALIDATION_FAILED' : 'AUDIENCE_PATH_NOT_ALLOWED');
        assert.deepEqual(linesOf(a.target, v.body + c.body), [], `${a.path} leaked`);
      }
      assert.deepEqual(linesOf(secretFile, logLines.join('\n')), []);
    },
  );

  it('a CSV swapped for a symlink out after creation fails the campaign at select, leaking nothing', async () => {
    const path = join(allowed, 'swapped.csv');
    writeFileSync(path, 'customer_id,email_address\ncus_00000001,ok@example.com\n');
    const created = await post('/v1/campaigns', {
      ...demoCampaign(),
      audience: { source: 'csv', path: 'swapped.csv', mapping: CSV_MAPPING },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    assert.equal((await post(`/v1/campaigns/${id}/start`, {})).statusCode, 200);
    unlinkSync(path);
    symlinkSync(outside, path);
    await drain(app);
    const got = await get(`/v1/campaigns/${id}`);
    assert.equal(got.json().status, 'failed');
    assert.match(got.json().statusReason, /^audience: CSV audience path "swapped\.csv" is not allowed/);
    const dead = await get('/v1/dead-letters?limit=1000');
    assert.deepEqual(linesOf(outside, got.body + dead.body + logLines.join('\n')), []);
  });

  it('warehouse SQL that writes is refused at validate and create, and the table is unchanged', async (t) => {
    if ((await requirePostgres(t)) === null || admin === undefined) return;
    const sql = `select * from ${schema}.victim limit 0; update ${schema}.victim set customer_id = 'x' || customer_id;
      select * from ${schema}.victim`;
    const audience = { source: 'postgres', sql, orderBy: 'customer_id', mapping: CSV_MAPPING };
    const v = await post('/v1/campaigns/validate', { ...demoCampaign(), audience });
    assert.match(v.json().errors.join('\n'), /audience query refused: it must be exactly one statement, found 3/);
    const c = await post('/v1/campaigns', { ...demoCampaign(), audience });
    assert.equal(c.statusCode, 400);
    assert.equal(c.json().error, 'AUDIENCE_SQL_INVALID');
    const dropped = await post('/v1/campaigns', {
      ...demoCampaign(),
      audience: { ...audience, sql: `drop table ${schema}.victim` },
    });
    assert.equal(dropped.json().error, 'AUDIENCE_SQL_INVALID');
    const { rows } = await admin.query(`select customer_id from ${schema}.victim order by 1`);
    assert.deepEqual(
      rows.map((r: { customer_id: string }) => r.customer_id),
      ['cus_00000001', 'cus_00000002'],
    );
  });

  it('a secret cast into a warehouse error reaches no response, status reason, dead letter or log line', async (t) => {
    if ((await requirePostgres(t)) === null || admin === undefined) return;
    const sql = `select v.* from ${schema}.victim v where length(v.customer_id) > cast((select secret
      from ${schema}.secrets) as int)`;
    const audience = { source: 'postgres', sql, orderBy: 'customer_id', mapping: CSV_MAPPING };
    const created = await post('/v1/campaigns', { ...demoCampaign(), audience });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    assert.equal((await post(`/v1/campaigns/${id}/start`, {})).statusCode, 200);
    // the data changes after the campaign was checked: the select stage meets the bad cast
    await admin.query(`update ${schema}.secrets set secret = $1`, [SECRET]);
    try {
      const v = await post('/v1/campaigns/validate', { ...demoCampaign(), audience });
      assert.match(v.json().errors.join('\n'), /SQLSTATE 22P02: invalid_text_representation/);
      const again = await post(`/v1/campaigns/${id}/validate`, {});
      await drain(app);
      const got = await get(`/v1/campaigns/${id}`);
      assert.equal(got.json().status, 'failed');
      assert.match(
        got.json().statusReason,
        /^audience: the audience query failed \(SQLSTATE 22P02: invalid_text_representation\)/,
      );
      const dead = await get('/v1/dead-letters?limit=1000');
      const status = await get(`/v1/campaigns/${id}/status`);
      const everything = [v.body, again.body, got.body, dead.body, status.body, ...logLines].join('\n');
      assert.ok(
        logLines.some((l) => l.includes('campaign failed while selecting')),
        'the failure was logged',
      );
      assert.ok(!everything.includes(SECRET) && !everything.includes('hunter2'), 'the secret leaked');
    } finally {
      await admin.query(`update ${schema}.secrets set secret = '1'`);
    }
  });
});
