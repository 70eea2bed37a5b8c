/** `switchyard dead-letters list|retry`: inspect and requeue what the stages gave up on. */
import type { Command } from 'commander';
import type { DeadLetters } from '../../bus/port.ts';

/** The part of the app these commands use; main.ts opens the whole app. */
export interface DeadLetterApp {
  bus: { deadLetters: Pick<DeadLetters, 'list' | 'retry'> };
  close(): Promise<void>;
}

export function registerDeadLetterCommands(program: Command, openApp: () => Promise<DeadLetterApp>): void {
  const dl = program.command('dead-letters').description('Inspect and retry dead letters');
  dl.command('list')
    .description('List dead letters, newest first')
    .option('--stage <stage>', 'only this stage')
    .option('--limit <n>', 'how many', (v) => Number(v), 50)
    .option('--all', 'include already retried ones')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { stage?: string; limit: number; all?: boolean; json?: boolean }) => {
      const app = await openApp();
      try {
        const rows = await app.bus.deadLetters.list({
          stage: opts.stage,
          limit: opts.limit,
          includeRetried: opts.all ?? false,
        });
        for (const d of rows) {
          process.stdout.write(
            opts.json === true
              ? `${JSON.stringify(d)}\n`
              : `${d.id}\t${d.stage}\t${d.code}\tattempts=${d.attempts}\t${d.lastFailedAt.toISOString()}\t`
                  + `${d.message}\n`,
          );
        }
        if (rows.length === 0 && opts.json !== true) process.stdout.write('no dead letters\n');
      } finally {
        await app.close();
      }
    });
  dl.command('retry')
    .description('Requeue dead letters to their stage')
    .argument('[ids...]', 'dead letter ids')
    .option('--stage <stage>', 'retry every dead letter of this stage')
    .action(async (ids: string[], opts: { stage?: string }) => {
      const app = await openApp();
      try {
        const wanted = ids.map(Number);
        if (opts.stage !== undefined)
          wanted.push(...(await app.bus.deadLetters.list({ stage: opts.stage, limit: 10_000 })).map((d) => d.id));
        if (wanted.length === 0 || wanted.some((n) => !Number.isInteger(n))) {
          process.stderr.write('give dead letter ids or --stage\n');
          process.exitCode = 2;
          return;
        }
        const retried = await app.bus.deadLetters.retry(wanted);
        process.stdout.write(
          `requeued ${retried.length} of ${wanted.length}`
            + `${retried.length < wanted.length ? ' (the rest were ingress dead letters or already retried)' : ''}`
            + `\n`,
        );
      } finally {
        await app.close();
      }
    });
}
