/**
 * The `switchyard` command. Thin: parse arguments, build the app (app.ts), call one service
 * function, format. Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.
 */
import { Command } from 'commander';
import { createApp, createWebhookVerifiers, loadConfigFromProcess, openAccess, openStore } from '../app.ts';
import { adminKeyPath, readLocalAdminKey } from '../access/local-key.ts';
import type { Config } from '../config.ts';
import { isSwitchyardError } from '../core/errors.ts';
import { migrate } from '../store/migrate.ts';
import { registerAccessCommands } from './commands/access.ts';
import { registerCampaignCommands } from './commands/campaigns.ts';
import type { ApiTarget } from './http.ts';
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

program
  .command('start')
  .description('Run both HTTP listeners (public and admin) and every stage worker in one process')
  .action(async () => {
    const config = loadConfigFromProcess();
    const app = await createApp(config);
    // before listening, so the first request can already be authenticated
    const local = await app.ensureLocalAdminKey();
    app.startWorkers();
    const { publicUrl, adminUrl } = await app.listen();
    const inboundPort = await app.listenInbound().catch((err: Error) => {
      app.log.warn({ err }, 'inbound SMTP listener not started');
      return null;
    });
    const shown = (url: string): string => url.replace('0.0.0.0', '127.0.0.1');
    process.stdout.write(
      `Switchyard public listener on ${shown(publicUrl)}  (tracking, unsubscribe, webhooks; store: `
        + `${config.store.kind}${inboundPort === null ? '' : `, inbound SMTP on port ${inboundPort}`})\n`,
    );
    process.stdout.write(
      `Switchyard admin API on ${shown(adminUrl)}  (docs: ${shown(adminUrl)}/docs; needs an API key)\n`,
    );
    process.stdout.write(
      local.kind === 'created'
        ? `Created admin API key ${local.keyId}; it is in ${local.path} (mode 0600), which the CLI on this `
            + `machine reads\n`
        : `Admin API key: ${
            local.path === null
              ? `an active admin key exists (no ${adminKeyPath(config.dataDir)}; set SWITCHYARD_API_KEY for the CLI)`
              : `in ${local.path}`
          }\n`,
    );
    const shutdown = async (): Promise<void> => {
      await app.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown());
    process.once('SIGTERM', () => void shutdown());
  });

program
  .command('migrate')
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

program
  .command('worker')
  .description('Run the consumers of one or more stages only (no HTTP server)')
  .requiredOption('--stage <name...>', 'stage name(s)')
  .action(async (opts: { stage: string[] }) => {
    const app = await createApp(loadConfigFromProcess());
    const consumers = app.startWorkers(opts.stage);
    process.stdout.write(`worker running ${consumers.length} consumer(s) for ${opts.stage.join(', ')}\n`);
    const shutdown = async (): Promise<void> => {
      await app.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown());
    process.once('SIGTERM', () => void shutdown());
  });

program
  .command('stages')
  .description('List the stages a worker can run')
  .action(async () => {
    const app = await createApp(loadConfigFromProcess());
    for (const s of app.stages)
      process.stdout.write(
        `${s.name}\t${s.consumers.map((c) => `${c.options.topic}→${c.options.group}`).join(', ')}\n`,
      );
    await app.close();
  });

registerDeadLetterCommands(program, async () => createApp(loadConfigFromProcess()));
/** The CLI's key: SWITCHYARD_API_KEY, else the key file the server wrote on first start. */
function apiTarget(config: Config, url: string | undefined): ApiTarget {
  const key = config.cli.apiKey ?? readLocalAdminKey(config.dataDir);
  return {
    base: (url ?? config.admin.url).replace(/\/$/, ''),
    key,
    keyHint: `set SWITCHYARD_API_KEY, or run \`npm start\` once to create ${adminKeyPath(config.dataDir)}`,
  };
}

registerCampaignCommands(program, (url) => apiTarget(loadConfigFromProcess(), url));
registerAccessCommands(program, {
  open: async () => openAccess(loadConfigFromProcess()),
  api: () => apiTarget(loadConfigFromProcess(), undefined),
});
registerInboundCommands(program);
registerWebhookCommands(program, createWebhookVerifiers);
registerSuppressionCommands(program, async () => createApp(loadConfigFromProcess()));

program.parseAsync(process.argv).catch(fail);
