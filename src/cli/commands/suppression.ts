/**
 * `switchyard suppression show|add|remove EMAIL`: one address's suppression and whether every
 * connected system has confirmed it. Thin: parse, call compliance/suppression-status, print.
 * Exit codes: 0 ok, 1 not found / failure, 2 bad input.
 */
import type { Command } from 'commander';
import type { Clock } from '../../clock/port.ts';
import { isSwitchyardError, toError } from '../../core/errors.ts';
import type { SuppressionStatus } from '../../compliance/suppression-status.ts';

// loaded by the actions: the suppression service is not needed for help or other commands
const service = () => load(() => import('../../compliance/suppression-status.ts'));
import type { Db } from '../../store/port.ts';
import { load } from '../lazy.ts';

export interface SuppressionCliIo {
  out(line: string): void;
  err(line: string): void;
  setExitCode(code: number): void;
}

const PROCESS_IO: SuppressionCliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

/** What the commands need from the app; `clock` is used when present (the App has one). */
export interface SuppressionCliApp {
  db: Db;
  close(): Promise<void>;
  clock?: Clock;
  /** The systems the app propagates to (its sinks); default every system, PROPAGATION_SYSTEMS. */
  suppressionSystems?: readonly string[];
}

export function formatSuppressionStatus(s: SuppressionStatus): string[] {
  const lines = [
    s.suppressed === null
      ? `${s.email}: not suppressed`
      : `${s.email}: suppressed (${s.suppressed.reason}, source ${s.suppressed.source}, since `
        + `${s.suppressed.at.toISOString()})`,
  ];
  if (s.systems.length === 0) lines.push('  no propagation recorded');
  for (const p of s.systems) {
    const detail =
      p.status === 'confirmed'
        ? `confirmed ${p.confirmedAt?.toISOString() ?? ''}`
        : p.status === 'pending'
          ? `pending, attempts ${p.attempts}, next ${p.nextAttemptAt?.toISOString() ?? ''}`
            + `${p.lastError === null ? '' : `, last error: ${p.lastError}`}`
          : `FAILED after ${p.attempts} attempts: ${p.lastError ?? 'unknown error'} (run "suppression add" `
            + `again to retry)`;
    lines.push(`  ${p.system.padEnd(12)} ${detail}`);
  }
  return lines;
}

export function registerSuppressionCommands(
  program: Command,
  openApp: () => Promise<SuppressionCliApp>,
  io: SuppressionCliIo = PROCESS_IO,
): void {
  const cmd = program
    .command('suppression')
    .description('Show, add or remove a suppressed address and its propagation to connected systems');

  async function withApp(work: (app: SuppressionCliApp) => Promise<void>): Promise<void> {
    const app = await openApp();
    try {
      await work(app);
    } catch (err) {
      const e = toError(err);
      io.err(isSwitchyardError(e) ? `${e.code}: ${e.message}` : e.message);
      io.setExitCode(isSwitchyardError(e) && e.code === 'VALIDATION_FAILED' ? 2 : 1);
    } finally {
      await app.close();
    }
  }

  cmd
    .command('show')
    .description('Print whether EMAIL is suppressed and the propagation status per system')
    .argument('<email>')
    .option('--json', 'print one JSON object')
    .action((email: string, opts: { json?: boolean }) =>
      withApp(async (app) => {
        const status = await (await service()).getSuppressionStatus(app.db, email);
        if (opts.json === true) io.out(JSON.stringify(status));
        else for (const line of formatSuppressionStatus(status)) io.out(line);
        if (status.suppressed === null) io.setExitCode(1);
      }),
    );

  cmd
    .command('add')
    .description('Suppress EMAIL now and propagate it to every connected system (retries failed systems)')
    .argument('<email>')
    .option('--reason <reason>', 'unsubscribed | complained | bounced_hard | bounced_soft | manual | erased', 'manual')
    .action((email: string, opts: { reason: string }) =>
      withApp(async (app) => {
        const r = await (await service()).addManualSuppression(
          app.db,
          { email, reason: opts.reason, source: 'cli' },
          app.clock?.now() ?? new Date(),
          app.suppressionSystems,
        );
        io.out(`${r.added ? 'suppressed' : 'already suppressed'}; ${r.queued} system(s) queued for propagation`);
      }),
    );

  cmd
    .command('remove')
    .description('Lift the local suppression of EMAIL (connected systems keep their opt-out)')
    .argument('<email>')
    .action((email: string) =>
      withApp(async (app) => {
        const removed = await (await service()).removeManualSuppression(app.db, email);
        io.out(removed ? 'suppression removed' : 'not suppressed');
        if (!removed) io.setExitCode(1);
      }),
    );
}
