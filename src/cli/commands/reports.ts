/**
 * `switchyard report run NAME`: builds and emails one executive report now, through the admin API
 * of the running server (which owns the store and the transactional lane), with the CLI's key.
 * Prints what was queued; `--json` prints the API's answer unchanged.
 */
import type { Command } from 'commander';
import { ApiError, CliError, EXIT } from '../errors.ts';
import { callApi } from '../http.ts';
import type { TargetResolver } from './campaigns.ts';

interface RunJson {
  name: string;
  scheduledAt: string;
  sent: boolean;
  recipients: number;
  pdfBytes: number;
}

export function registerReportCommands(program: Command, resolveTarget: TargetResolver): void {
  const cmd = program.command('report').description('Executive reports (SWITCHYARD_REPORTS) through a running server');
  cmd
    .command('run')
    .description('Build the report for its period up to now and email it to its recipients (HTML and PDF)')
    .argument('<name>', 'report name from SWITCHYARD_REPORTS')
    .option('--url <url>', 'admin API base URL (default: the configured admin listener)')
    .option('--json', "print the API's JSON instead of text")
    .action(async (name: string, o: { url?: string; json?: boolean }) => {
      const r = await callApi<RunJson>(
        await resolveTarget(o.url),
        'POST',
        `/v1/reports/${encodeURIComponent(name)}/run`,
      ).catch((e: unknown) => {
        if (e instanceof ApiError && e.code === 'NOT_FOUND')
          throw new CliError(`report ${name}: ${e.serverMessage}`, EXIT.failed, { cause: e });
        throw e;
      });
      const text = r.sent
        ? `report ${r.name} (${r.scheduledAt}) queued to ${r.recipients} recipient(s), PDF ${r.pdfBytes} bytes`
        : `report ${r.name} (${r.scheduledAt}) was already sent this minute; nothing queued again`;
      process.stdout.write(`${o.json === true ? JSON.stringify(r, null, 2) : text}\n`);
    });
}
