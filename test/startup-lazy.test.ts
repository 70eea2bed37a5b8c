/**
 * An idle `switchyard start` on the demo workspace loads none of the heavy packages it needs only
 * for some requests (MJML on the first MJML template, libpg-query on the first audience SQL check,
 * mailparser on the first inbound message, pdfkit on the first executive report): they cost start
 * time and idle memory
 * (docs/decisions/0008-start-time-and-idle-memory.md). Validating the demo campaign then loads MJML,
 * which shows the module log sees a lazy import when it happens.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoCampaign } from '../src/demo/campaign.ts';
import { startServerProcess } from './support/server-process.ts';

const HOOK = new URL('./support/module-log-hook.mjs', import.meta.url).pathname;
const LAZY = ['mjml', 'libpg-query', 'mailparser', 'pdfkit', 'svg-to-pdfkit'] as const;

function loadedPackages(log: string): Set<string> {
  const names = new Set<string>();
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) names.add(m[1]!);
  }
  return names;
}

describe('switchyard start loads heavy packages on first use', () => {
  it('an idle demo server has loaded none of them; a campaign loads MJML', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sy-lazy-'));
    const log = join(dataDir, 'modules.log');
    const server = await startServerProcess(t, {
      PATH: process.env.PATH,
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_TEST_MODULE_LOG: log,
      NODE_OPTIONS: `--import ${HOOK}`,
      LOG_LEVEL: 'silent',
    });
    const health = await fetch(`${server.publicUrl}/healthz`);
    assert.equal(health.status, 200);
    const idle = loadedPackages(log);
    assert.ok(idle.has('fastify'), 'the module log sees packages the server does load');
    for (const name of LAZY) assert.ok(!idle.has(name), `${name} is loaded by an idle start`);

    const key = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
    const validated = await fetch(`${server.adminUrl}/v1/campaigns/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(demoCampaign({ audience: { source: 'demo', size: 10 } })),
    });
    assert.deepEqual(await validated.json(), { ok: true, errors: [] });
    assert.ok(loadedPackages(log).has('mjml'), 'validating an MJML campaign loads MJML');
    assert.equal(await server.stop(), 0);
    rmSync(dataDir, { recursive: true, force: true });
  });
});
