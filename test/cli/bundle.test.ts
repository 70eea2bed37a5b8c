/**
 * The bundle `npm start` runs (scripts/build.mjs): it is built from src/ as it is now and starts
 * the demo workspace on the embedded store, migrations included, with no TypeScript loader; and
 * the TypeScript road bin/switchyard.js takes without a current bundle still answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess } from '../support/server-process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
// one level under the package, as dist/ is: dependencies and package.json resolve the same way
const OUT = join(ROOT, `dist-test-${process.pid}`);
const RUNNER = join(OUT, 'run.mjs');

describe('the bundle', () => {
  before(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--outdir', OUT]);
    // what bin/switchyard.js does with a current bundle
    writeFileSync(RUNNER, "const { runCli } = await import('./switchyard.js');\nrunCli(process.argv, process.env);\n");
  });
  after(() => rmSync(OUT, { recursive: true, force: true }));

  it('bin/switchyard.js runs the TypeScript when no current bundle exists (a fresh checkout, an edit)', () => {
    // npm test builds dist/ first, so the other CLI tests run the bundle; this is bin's other road
    const runner = join(OUT, 'run-ts.cjs');
    writeFileSync(
      runner,
      "require('tsx/cjs/api').register();\n"
        + `require(${JSON.stringify(join(ROOT, 'src/cli/main.ts'))}).runCli(process.argv, process.env);\n`,
    );
    const r = spawnSync(process.execPath, [runner, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: switchyard/);
  });

  it('answers --help without loading TypeScript', () => {
    const r = spawnSync(process.execPath, [RUNNER, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: switchyard/);
  });

  it('starts the demo workspace on PGlite: migrations run, both listeners answer', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sy-bundle-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const server = await startServerProcess(
      t,
      { ...process.env, SWITCHYARD_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      RUNNER,
    );
    const health = await fetch(`${server.publicUrl}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`${server.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.doesNotMatch(server.stderr(), /tsx|Error/);
    assert.equal(await server.stop(), 0);
  });
});
