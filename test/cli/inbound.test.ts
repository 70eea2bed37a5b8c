import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { classifyBounceFiles, registerInboundCommands } from '../../src/cli/commands/inbound.ts';
import { looksLikeRfc822, trimReplyInput } from '../../src/reactions/inbound/summarize.ts';

const fx = (name: string): string => fileURLToPath(new URL(`../fixtures/inbound/${name}`, import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const commandModule = fileURLToPath(new URL('../../src/cli/commands/inbound.ts', import.meta.url));

/** Runs the real commands in a child process: a tiny commander program with only our register function. */
function runCli(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const entry = `
    const { Command } = await import('commander');
    const { registerInboundCommands } = await import(${JSON.stringify(commandModule)});
    const program = new Command('switchyard');
    registerInboundCommands(program);
    await program.parseAsync(process.argv.slice(1), { from: 'user' });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', entry, ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('bounce classify', () => {
  it('prints one line per recipient, in report order, across many files', async () => {
    const files = [
      fx('postfix/two-recipients-user-unknown-and-mailbox-full.eml'),
      fx('yahoo/arf-abuse-complaint.eml'),
      fx('yahoo/delayed-421-4-7-0-tss04-deferral.eml'),
      fx('rfc3834/auto-replied-vacation.eml'),
      fx('gmail/reply-interested-with-quote.eml'),
    ];
    const { lines, failed } = await classifyBounceFiles(files);
    assert.equal(failed, false);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l)),
      [
        { file: files[0], recipient: 'zed@example.net', kind: 'hard_bounce', reason: 'userunknown', status: '5.1.1' },
        { file: files[0], recipient: 'amy@example.net', kind: 'soft_bounce', reason: 'mailboxfull', status: '4.2.2' },
        {
          file: files[1],
          recipient: 'pat_example@yahoo.com',
          kind: 'complaint',
          reason: 'feedback',
          status: null,
          detail: 'abuse',
        },
        {
          file: files[2],
          recipient: 'sam_example@yahoo.com',
          kind: 'soft_bounce',
          reason: 'blocked',
          status: '4.7.0',
          detail: 'deferred',
        },
        { file: files[3], recipient: 'claire.martin@example.fr', kind: 'auto_reply', reason: 'vacation', status: null },
        { file: files[4], recipient: 'anna.schmidt.example@gmail.com', kind: 'reply', reason: null, status: null },
      ],
    );
  });

  it(
    'a missing or unparsable file gives a not_bounce line with error; the rest still run; exit 1 (child ' + 'process)',
    () => {
      const good = fx('qmail/text-bounce-no-mailbox-5-1-1.eml');
      const missing = fx('does-not-exist.eml');
      const r = runCli(['bounce', 'classify', missing, good]);
      assert.equal(r.status, 1, r.stderr);
      const out = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(out.length, 2);
      assert.equal(out[0]?.file, missing);
      assert.equal(out[0]?.kind, 'not_bounce');
      assert.match(String(out[0]?.error), /^cannot read file: ENOENT/);
      assert.deepEqual(out[1], {
        file: good,
        recipient: 'kim@example.net',
        kind: 'hard_bounce',
        reason: 'userunknown',
        status: '5.1.1',
      });
    },
  );

  it('an invalid message names the problem; exit 0 when every file parsed (in-process program)', async () => {
    const out: string[] = [];
    let code = 0;
    const program = new Command('switchyard').exitOverride();
    registerInboundCommands(program, {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      setExitCode: (c) => {
        code = c;
      },
    });
    await program.parseAsync(['bounce', 'classify', fx('exchange/hard-bounce-5-1-10-recipient-not-found.eml')], {
      from: 'user',
    });
    assert.equal(code, 0);
    assert.equal(JSON.parse(out[0]!).kind, 'hard_bounce');
    const { lines, failed } = await classifyBounceFiles([fileURLToPath(import.meta.url)]);
    assert.equal(failed, true);
    assert.match(JSON.parse(lines[0]!).error, /^cannot parse: inbound message has no RFC 822 header fields/);
  });
});

describe('reply trim', () => {
  it('trims a raw .eml, an HTML body and plain text', async () => {
    assert.equal(
      await trimReplyInput(
        Buffer.from('Yes please.\n\nOn Tue, Nov 24, 2026 at 10:02 AM Shop <a@b.example> wrote:\n> old\n'),
      ),
      'Yes please.',
    );
    assert.equal(
      await trimReplyInput(
        '<div>Count me in.</div><div class="gmail_quote">On Tue … wrote:<blockquote>old</blockquote></div>',
      ),
      'Count me in.',
    );
    assert.equal(looksLikeRfc822('Hello there:\nfriend'), false);
    await assert.rejects(
      trimReplyInput(
        Buffer.from(
          'From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n<a@b.example>:\nno mailbox here by that name\n',
        ),
      ),
      { code: 'INBOUND_MESSAGE_INVALID' },
    );
  });

  it('prints the trimmed body of an Outlook HTML-only reply (child process)', () => {
    const r = runCli(['reply', 'trim', fx('outlook/reply-unsubscribe-html-only.eml')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Please remove me from your mailing list.\n');
  });

  it('a missing file is an error on stderr with exit 1 (child process)', () => {
    const r = runCli(['reply', 'trim', fx('nope.txt')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /reply trim: .*nope\.txt: ENOENT/);
  });
});
