/**
 * `switchyard bounce classify FILE...` and `switchyard reply trim FILE`: offline answers to "what
 * would inbound make of this email?". Thin: read files, call reactions/inbound, print. One JSON line
 * per recipient; a file that cannot be read or parsed prints a not_bounce line with `error`, the
 * other files still run, and the exit code is 1 at the end.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { toError } from '../../core/errors.ts';
import { load } from '../lazy.ts';

/** Where output goes; tests pass their own. */
export interface InboundCliIo {
  out(line: string): void;
  err(line: string): void;
  setExitCode(code: number): void;
}

const PROCESS_IO: InboundCliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

/** Classifies each file; returns the JSON lines in order and whether any file failed. */
export async function classifyBounceFiles(files: readonly string[]): Promise<{ lines: string[]; failed: boolean }> {
  // loaded here, not at the top: the mail parser is heavy and most commands never need it
  const { parseInboundMessage } = await load(() => import('../../reactions/inbound/parse.ts'));
  const { summarizeInbound } = await load(() => import('../../reactions/inbound/summarize.ts'));
  const lines: string[] = [];
  let failed = false;
  for (const file of files) {
    let stage = 'cannot read file';
    try {
      const raw = await readFile(file);
      stage = 'cannot parse';
      for (const line of summarizeInbound(await parseInboundMessage(raw)))
        lines.push(JSON.stringify({ file, ...line }));
    } catch (err) {
      failed = true;
      const error = `${stage}: ${toError(err).message}`;
      lines.push(JSON.stringify({ file, recipient: '', kind: 'not_bounce', reason: null, status: null, error }));
    }
  }
  return { lines, failed };
}

export function registerInboundCommands(program: Command, io: InboundCliIo = PROCESS_IO): void {
  const bounce = program.command('bounce').description('Inspect bounce and feedback emails');
  bounce
    .command('classify')
    .description('Classify raw RFC 822 files (DSN, ARF, auto-reply, reply): one JSON line per recipient')
    .argument('<files...>', 'raw email files (.eml)')
    .action(async (files: string[]) => {
      const { lines, failed } = await classifyBounceFiles(files);
      for (const line of lines) io.out(line);
      if (failed) io.setExitCode(1);
    });

  const reply = program.command('reply').description('Inspect replies to campaigns');
  reply
    .command('trim')
    .description('Print a reply without quoted text and signature (FILE: plain text, HTML or raw .eml)')
    .argument('<file>', 'the reply')
    .action(async (file: string) => {
      try {
        const { trimReplyInput } = await load(() => import('../../reactions/inbound/summarize.ts'));
        io.out(await trimReplyInput(await readFile(file)));
      } catch (err) {
        io.err(`reply trim: ${file}: ${toError(err).message}`);
        io.setExitCode(1);
      }
    });
}
