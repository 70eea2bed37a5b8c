/**
 * User errors of the real `switchyard` binary: one line on stderr saying what was wrong and what to
 * do, no stack trace, and the exit code docs/cli.md documents (1 refused, 2 usage, 3 unreachable).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess } from '../support/server-process.ts';
import { freePort } from '../support/free-port.ts';
import { blasts } from '../support/campaign-list.ts';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('close', (code) => resolve({ code, out, err }));
  });
}

/** One line, no stack frames. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /);
  return lines[0]!;
}

describe('switchyard CLI errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-cli-err-'));
  const badJson = join(dir, 'bad.json');
  writeFileSync(badJson, '{\n  "name": "x",\n  "subject" "hi"\n}\n');
  const invalid = join(dir, 'invalid.json');
  writeFileSync(
    invalid,
    JSON.stringify({
      name: 'x',
      from: { address: 'not-an-address' },
      subject: 'Hi {{ contact.firstName',
      template: { text: 'hello' },
      audience: { source: 'nowhere' },
    }),
  );

  it('help lists the exit codes and marks required options', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /Exit codes:\n {2}0 {2}ok\n {2}1 .*\n {2}2 .*\n {2}3 {2}server unreachable/);
    const preview = await run(['campaign', 'preview', '--help']);
    assert.match(preview.out, /--email <email> +.*\(required\)/);
  });

  it('bad usage exits 2 with one line naming the command help', async () => {
    const missing = await run(['campaign', 'preview', 'c1']);
    assert.equal(missing.code, 2);
    assert.match(
      oneLine(missing.err),
      /^switchyard: required option '--email <email>' not specified; see `switchyard campaign preview --help`$/,
    );
    const unknown = await run(['campaign', 'strat', 'c1']);
    assert.equal(unknown.code, 2);
    assert.match(oneLine(unknown.err), /unknown command 'strat'.*; see `switchyard campaign --help`/);
  });

  it('a missing file and bad JSON exit 2 naming the file (and line and column)', async () => {
    const missing = await run(['campaign', 'create', join(dir, 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(
      oneLine(missing.err),
      /^switchyard: cannot read campaign definition .*nope\.json: no such file; check the path$/,
    );
    const bad = await run(['campaign', 'validate', badJson]);
    assert.equal(bad.code, 2);
    assert.match(
      oneLine(bad.err),
      /bad\.json is not valid JSON \(line 3, column 13\): .*; fix the campaign definition/,
    );
  });

  it('an unreachable server exits 3 naming the URL and `npm start`', async () => {
    const port = await freePort();
    const r = await run(['campaign', 'status', 'c1', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(r.code, 3);
    assert.match(
      oneLine(r.err),
      new RegExp(
        String.raw`^switchyard: cannot reach the Switchyard admin API at http://127\.0\.0\.1:\d+ `
          + String.raw`\(connection refused\); `
          + 'the server may not be running: start it with `npm start`',
      ),
    );
    const verbose = await run(['campaign', 'status', 'c1', '--url', `http://127.0.0.1:${port}`, '--verbose']);
    assert.equal(verbose.code, 3);
    assert.match(verbose.err, /\n\s+at /, 'the stack with --verbose');
  });

  it('against a server: unknown id, every validation problem, starting a completed campaign', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sy-cli-srv-'));
    const server = await startServerProcess(t, { ...process.env, LOG_LEVEL: 'silent', SWITCHYARD_DATA_DIR: dataDir });
    const env = { SWITCHYARD_DATA_DIR: dataDir };
    const url = ['--url', server.adminUrl];

    const unknown = await run(['campaign', 'status', 'nope', ...url], env);
    assert.equal(unknown.code, 1);
    assert.equal(
      oneLine(unknown.err),
      'switchyard: campaign nope not found; `switchyard campaign list` shows the campaigns',
    );

    const validate = await run(['campaign', 'validate', invalid, ...url], env);
    assert.equal(validate.code, 1);
    assert.match(validate.out, /invalid\.json has [2-9] problems:\n {2}- /);
    const created = await run(['campaign', 'create', invalid, ...url], env);
    assert.equal(created.code, 1);
    assert.match(created.err, /has [2-9] problems:[\s\S]*nothing was created/);
    const none = await run(['campaign', 'list', '--json', ...url], env);
    // the demo workspace's journey has its message streams (jrn_…); no blast was created
    assert.deepEqual(blasts(none.out), []);

    const demo = await run(['campaign', 'demo', '--size', '3', ...url], env);
    assert.equal(demo.code, 0, demo.err);
    const id = /started (\S+)/.exec(demo.out)?.[1];
    assert.ok(id !== undefined, demo.out);
    assert.match(demo.out, /\ncompleted\n/);
    const again = await run(['campaign', 'start', id, ...url], env);
    assert.equal(again.code, 1);
    assert.match(
      oneLine(again.err),
      new RegExp(`^switchyard: cannot start campaign ${id}: .*completed.*only a draft can start`),
    );

    const status = await run(['campaign', 'status', id, ...url], env);
    assert.equal(status.code, 0, status.err);
    assert.match(status.out, new RegExp(`\\(${id}\\): completed\\n {2}progress {3}3 of 3 handled \\(100%\\)`));
    const asJson = await run(['campaign', 'status', id, '--json', ...url], env);
    assert.equal((JSON.parse(asJson.out) as { campaign: { id: string } }).campaign.id, id);
    const list = await run(['campaign', 'list', ...url], env);
    assert.match(list.out, new RegExp(`^ID +STATUS +SELECTED +CREATED +NAME\\n${id} +completed +3 `));
  });
});
