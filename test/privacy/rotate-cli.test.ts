/**
 * `switchyard privacy rotate-key` against a real store: after it, data sealed under the old master
 * key opens with the new key alone; keys under a master key not configured are reported (exit 1);
 * a bad --batch is exit 2.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { createManualClock } from '../../src/clock/manual.ts';
import { registerPrivacyCommands } from '../../src/cli/commands/privacy.ts';
import { createLocalMasterKeys } from '../../src/privacy/local-keys.ts';
import { createPrivacy } from '../../src/privacy/service.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import type { Db } from '../../src/store/port.ts';

let db: Db;
before(async () => {
  db = await createPgliteDb({});
  await migrate(db);
});
after(async () => {
  await db.close();
});

const clock = createManualClock(new Date('2026-12-01T00:00:00Z'));
const indexKey = randomBytes(32);
const privacyWith = (keys: Buffer[]) =>
  createPrivacy({ db, clock, keys: createLocalMasterKeys(keys), indexKey }, { cacheSize: 0 });

async function runCli(keys: Buffer[], ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  let code = 0;
  const program = new Command().exitOverride();
  registerPrivacyCommands(program, async () => ({ privacy: privacyWith(keys), close: async () => undefined }), {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    setExitCode: (c) => {
      code = c;
    },
  });
  await program.parseAsync(['node', 'switchyard', 'privacy', 'rotate-key', ...args]);
  return { out, err, code };
}

it('rotates every data key to the new master key; the old key is then unneeded', async () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const emails = Array.from({ length: 30 }, (_, i) => `rotate${i}@example.org`);
  const sealed = await privacyWith([oldKey]).sealMany(emails.map((e) => ({ email: e, value: e })));
  const r = await runCli([newKey, oldKey], '--batch', '7');
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.equal(r.out[0], 'rewrapped 30 data key(s)');
  assert.deepEqual(await privacyWith([newKey]).openMany(sealed), emails);
  // another master key's subjects (a key not configured here) are named, not silently skipped
  await privacyWith([randomBytes(32)]).sealMany([{ email: 'stranger@example.org', value: 'x' }]);
  const partial = await runCli([newKey]);
  assert.equal(partial.code, 1);
  assert.match(partial.err.join('\n'), /1 data key\(s\) are wrapped by a master key that is not configured/);
  assert.equal((await runCli([newKey], '--batch', '0')).code, 2);
});
