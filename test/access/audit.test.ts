/**
 * The access service on PGlite and PostgreSQL: keys are stored hashed and refused once revoked;
 * the audit log is one unforked hash chain under concurrent appends, refuses UPDATE/DELETE, and
 * verify names the first row an owner tampered with behind the trigger's back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAuditLog } from '../../src/access/audit.ts';
import { createKeyService } from '../../src/access/keys.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { GENESIS_HASH } from '../../src/core/audit-chain.ts';
import type { Db } from '../../src/store/port.ts';
import { testDatabases, uniqueName } from '../support/databases.ts';

const actor = (name: string) => ({ actorKeyId: null, actorName: name, role: null, sourceIp: '127.0.0.1' });

async function setTrigger(db: Db, on: boolean): Promise<void> {
  await db.exec(`alter table audit_log ${on ? 'enable' : 'disable'} trigger audit_log_no_change`);
}

for (const tdb of await testDatabases()) {
  describe(`access service on ${tdb.label}`, { skip: tdb.skip }, () => {
    after(() => tdb.close(true));
    const clock = createManualClock(new Date('2026-12-01T09:00:00Z'));

    it(
      `${tdb.label}: a key is stored as prefix, salt and hash only; a wrong secret, a malformed key and a `
        + `revoked key are refused at once`,
      async () => {
        const db = await tdb.open();
        const audit = createAuditLog({ db, clock });
        const keys = createKeyService({ db, clock, audit });
        const { info, key } = await keys.create({ name: uniqueName('ci'), role: 'marketer' }, { by: 'test' });
        assert.match(key, /^sy_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
        const secret = key.slice(12);
        const { rows } = await db.query('select * from api_keys where id = $1', [info.id]);
        assert.equal(JSON.stringify(rows).includes(secret), false, 'the secret is never stored');
        assert.deepEqual(await keys.authenticate(key), { keyId: info.id, name: info.name, role: 'marketer' });
        const flipped = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
        assert.equal(await keys.authenticate(flipped), null, 'same prefix, wrong secret');
        assert.equal(await keys.authenticate('sy_short'), null);
        assert.equal(await keys.authenticate(`${key}\u0000`), null);
        await keys.revoke(info.id, { by: 'test' });
        assert.equal(await keys.authenticate(key), null, 'revoked: refused on the very next check');
        const listed = (await keys.list()).find((k) => k.id === info.id)!;
        assert.equal('salt' in listed || 'secretHash' in listed, false);
        await assert.rejects(keys.revoke('key_nope', { by: 'test' }), { code: 'NOT_FOUND' });
      },
    );

    it(
      `${tdb.label}: concurrent appends form one chain; CLI-style key changes are audited in their ` + `transaction`,
      async () => {
        const db = await tdb.open();
        const audit = createAuditLog({ db, clock });
        const keys = createKeyService({ db, clock, audit });
        const who = uniqueName('cli');
        await Promise.all(
          Array.from({ length: 24 }, (_, i) =>
            audit.append({ ...actor(who), action: 'POST /v1/test/:id', target: { id: String(i) }, outcome: 200 }),
          ),
        );
        const created = await keys.create({ name: 'x', role: 'analyst' }, { by: who, audit: actor(who) });
        const { rows } = await db.query<{ id: number; prev_hash: string; hash: string }>(
          'select id, prev_hash, hash from audit_log order by id',
        );
        for (let i = 0; i < rows.length; i++)
          assert.equal(
            rows[i]!.prev_hash,
            i === 0 ? GENESIS_HASH : rows[i - 1]!.hash,
            `row ${rows[i]!.id} links to its predecessor`,
          );
        assert.deepEqual(await audit.verify(), { ok: true, rows: rows.length, lastHash: rows[rows.length - 1]!.hash });
        const mine = (await audit.list({ limit: 1000 })).entries.filter((e) => e.actorName === who);
        assert.equal(mine.length, 25);
        assert.deepEqual(mine[0]!.target, { keyId: created.info.id, role: 'analyst' });
        assert.equal(mine[0]!.action, 'keys.create');
      },
    );

    it(
      `${tdb.label}: UPDATE and DELETE are refused; a row changed behind the trigger is named by verify, and `
        + `so is a deleted one`,
      async () => {
        const db = await tdb.open();
        const audit = createAuditLog({ db, clock });
        const rows = [];
        for (let i = 0; i < 3; i++)
          rows.push(
            await audit.append({
              ...actor('tamper'),
              action: 'POST /v1/campaigns/:id/cancel',
              target: { id: `c${i}` },
              outcome: 200,
            }),
          );
        await assert.rejects(
          db.query('update audit_log set outcome = 403 where id = $1', [rows[1]!.id]),
          /append-only/,
        );
        await assert.rejects(db.query('delete from audit_log where id = $1', [rows[1]!.id]), /append-only/);
        assert.equal((await audit.verify()).ok, true);

        // the attacker owns the database: the trigger is no obstacle, the chain still is
        await setTrigger(db, false);
        try {
          await db.query(`update audit_log set target = '{"id":"someone-else"}' where id = $1`, [rows[1]!.id]);
          const tampered = await audit.verify();
          assert.equal(tampered.ok, false);
          assert.equal(!tampered.ok && tampered.brokenId, rows[1]!.id);
          assert.equal(!tampered.ok && tampered.reason, 'hash');
          await db.query(`update audit_log set target = '{"id":"c1"}' where id = $1`, [rows[1]!.id]);
          assert.equal((await audit.verify()).ok, true, 'restored exactly: intact again');
          // rewriting a row's hash too is caught at the next row's link
          await db.query(`update audit_log set outcome = 500, hash = repeat('a', 64) where id = $1`, [rows[1]!.id]);
          const relinked = await audit.verify();
          assert.equal(!relinked.ok && relinked.brokenId, rows[1]!.id);
          await db.query('update audit_log set outcome = 200, hash = $2 where id = $1', [rows[1]!.id, rows[1]!.hash]);
          await db.query('delete from audit_log where id = $1', [rows[1]!.id]);
          const deleted = await audit.verify();
          assert.equal(!deleted.ok && deleted.brokenId, rows[2]!.id);
          assert.equal(!deleted.ok && deleted.reason, 'prev_hash');
        } finally {
          await setTrigger(db, true);
        }
        // leave the chain broken for no later test of this file: this is the last one
      },
    );
  });
}
