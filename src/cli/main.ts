/**
 * The `switchyard` command. Thin: parse arguments, build the app (app.ts), call one service
 * function, format. Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.
 */
import { Command } from 'commander';
import { createApp, loadConfigFromProcess, openStore } from '../app.ts';
import { isSwitchyardError } from '../core/errors.ts';
import { migrate } from '../store/migrate.ts';
import { registerCampaignCommands } from './commands/campaigns.ts';
import { registerDeadLetterCommands } from './commands/dead-letters.ts';
import { registerInboundCommands } from './commands/inbound.ts';
import { registerWebhookCommands } from './commands/webhooks.ts';
import { registerSuppressionCommands } from './commands/suppression.ts';

function fail(err: unknown): never {
  if (isSwitchyardError(err)) {
    process.stderr.write(`switchyard: ${err.code}: ${err.message}\n`);
    process.exit(err.code === 'CONFIG_INVALID' ? 2 : 1);
  }
  process.stderr.write(`switchyard: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}

const program = new Command('switchyard').description('Email-marketing orchestration layer').showHelpAfterError();

program.command('start')
  .description('Run the HTTP server and every stage worker in one process')
  .action(async () => {
    const config = loadConfigFromProcess();
    const app = await createApp(config);
    app.startWorkers();
    const url = await app.listen();
    const inboundPort = await app.listenInbound().catch((err: Error) => {
      app.log.warn({ err }, 'inbound SMTP listener not started');
      return null;
    });
    const shown = url.replace('0.0.0.0', '127.0.0.1');
    process.stdout.write(`Switchyard listening on ${shown}  (docs: ${shown}/docs, store: ${config.store.kind}${inboundPort === null ? '' : `, inbound SMTP on port ${inboundPort}`})\n`);
    const shutdown = async (): Promise<void> => {
      await app.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown());
    process.once('SIGTERM', () => void shutdown());
  });

program.command('migrate')
  .description('Apply pending database migrations and exit')
  .action(async () => {
    const db = await openStore(loadConfigFromProcess());
    try {
      const applied = await migrate(db);
      process.stdout.write(applied.length === 0 ? 'schema up to date\n' : `applied ${applied.join(', ')}\n`);
    } finally {
      await db.close();
    }
  });

program.command('worker')
  .description('Run the consumers of one or more stages only (no HTTP server)')
  .requiredOption('--stage <name...>', 'stage name(s)')
  .action(async (opts: { stage: string[] }) => {
    const app = await createApp(loadConfigFromProcess());
    const consumers = app.startWorkers(opts.stage);
    process.stdout.write(`worker running ${consumers.length} consumer(s) for ${opts.stage.join(', ')}\n`);
    const shutdown = async (): Promise<void> => { await app.close(); process.exit(0); };
    process.once('SIGINT', () => void shutdown());
    process.once('SIGTERM', () => void shutdown());
  });

program.command('stages')
  .description('List the stages a worker can run')
  .action(async () => {
    const app = await createApp(loadConfigFromProcess());
    for (const s of app.stages) process.stdout.write(`${s.name}\t${s.consumers.map((c) => `${c.options.topic}→${c.options.group}`).join(', ')}\n`);
    await app.close();
  });

registerDeadLetterCommands(program, async () => createApp(loadConfigFromProcess()));
registerCampaignCommands(program);
registerInboundCommands(program);
registerWebhookCommands(program);
registerSuppressionCommands(program, async () => createApp(loadConfigFromProcess()));

program.parseAsync(process.argv).catch(fail);
