/**
 * The `switchyard` command. Thin: parse arguments, load what the command needs, call one service
 * function, format. Only commander and the command definitions load up front: the app (app.ts)
 * and the configuration are imported inside the actions that use them, so `--help` and the
 * commands that only talk to a running server answer at once. Exit codes: errors.ts (EXIT).
 */
import { Command, CommanderError } from 'commander';
import type { Config } from '../config.ts';
import { registerAccessCommands } from './commands/access.ts';
import { registerAttributionCommands } from './commands/attribution.ts';
import { registerBillingCommands } from './commands/billing.ts';
import { registerCampaignCommands } from './commands/campaigns.ts';
import { registerComplianceCommands } from './commands/compliance.ts';
import { registerDeadLetterCommands } from './commands/dead-letters.ts';
import { registerListCommands } from './commands/lists.ts';
import { registerInboundCommands } from './commands/inbound.ts';
import { registerJourneyCommands } from './commands/journeys.ts';
import { registerReportCommands } from './commands/reports.ts';
import { registerSuppressionCommands } from './commands/suppression.ts';
import { registerPrivacyCommands } from './commands/privacy.ts';
import { registerWebhookCommands } from './commands/webhooks.ts';
import { registerWorkerCommand } from './commands/worker.ts';
import { startBanner } from './banner.ts';
import { EXIT, EXIT_CODES_HELP, isCliError } from './errors.ts';
import type { ApiTarget } from './http.ts';
import { load, loadLight } from './lazy.ts';

const verbose = process.argv.includes('--verbose');

function fail(err: unknown): never {
  if (err instanceof CommanderError) {
    // commander has printed the help, or the one error line quietErrors gives it
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  if (verbose && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  if (isCliError(err)) {
    process.stderr.write(`switchyard: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  if (e !== null && typeof e === 'object' && e.name === 'SwitchyardError' && typeof e.code === 'string') {
    process.stderr.write(`switchyard: ${e.code}: ${String(e.message)}\n`);
    process.exit(e.code === 'CONFIG_INVALID' ? EXIT.usage : EXIT.failed);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`switchyard: ${message}${verbose ? '' : ' (run again with --verbose for the stack trace)'}\n`);
  process.exit(EXIT.failed);
}

const app = () => load(() => import('../app.ts'));

async function loadConfigFromProcess(): Promise<Config> {
  return (await app()).loadConfigFromProcess();
}

/** The environment bin/switchyard.js hands in (src/app.ts is the only module of src that reads it). */
let cliEnv: Record<string, string | undefined> = {};

/** The configuration alone (no app): what commands that only call the admin API need. */
async function loadConfigOnly(): Promise<Config> {
  const { loadConfig, readConfigFile } = await loadLight('../config.ts', () => import('../config.ts'));
  return loadConfig(cliEnv, readConfigFile('switchyard.config.json'));
}

/** The CLI's key: SWITCHYARD_API_KEY, else the key file the server wrote on first start. */
async function apiTarget(url: string | undefined): Promise<ApiTarget> {
  const config = await loadConfigOnly();
  const { adminKeyPath, readLocalAdminKey } = await loadLight(
    '../access/local-key.ts',
    () => import('../access/local-key.ts'),
  );
  const key = config.cli.apiKey ?? readLocalAdminKey(config.dataDir);
  return {
    base: (url ?? config.admin.url).replace(/\/$/, ''),
    key,
    keyHint: `set SWITCHYARD_API_KEY, or run \`npm start\` once to create ${adminKeyPath(config.dataDir)}`,
  };
}

const program = new Command('switchyard')
  .description('Email-marketing orchestration layer')
  .option('--verbose', 'print stack traces with errors')
  .addHelpText('after', `\n${EXIT_CODES_HELP}\nMore: docs/cli.md`)
  .configureHelp({ showGlobalOptions: true })
  .exitOverride();

program
  .command('start')
  .description('Run both HTTP listeners (public and admin) and every stage worker in one process')
  .option('--no-workers', 'serve HTTP and inbound mail only; stages run in `switchyard worker` processes')
  .action(async (opts: { workers: boolean }) => {
    const { createApp, loadConfigFromProcess } = await app();
    const { adminKeyPath } = await load(() => import('../access/local-key.ts'));
    const config = loadConfigFromProcess();
    process.stdout.write(`${startBanner(config).join('\n')}\n`);
    const running = await createApp(config);
    // before listening, so the first request can already be authenticated
    const local = await running.ensureLocalAdminKey();
    if (config.demo.enabled) {
      const { ensureDemoWorkspace } = await load(() => import('../composition/demo-workspace.ts'));
      await ensureDemoWorkspace(running, { demoSize: config.demo.size });
    }
    if (opts.workers) running.startWorkers();
    const { publicUrl, adminUrl } = await running.listen();
    const inboundPort = await running.listenInbound().catch((err: Error) => {
      running.log.warn({ err }, 'inbound SMTP listener not started');
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
      await running.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown());
    process.once('SIGTERM', () => void shutdown());
  });

program
  .command('migrate')
  .description('Apply pending database migrations and exit')
  .action(async () => {
    const { openStore } = await app();
    const { migrate } = await load(() => import('../store/migrate.ts'));
    const db = await openStore(await loadConfigFromProcess());
    try {
      const applied = await migrate(db);
      process.stdout.write(applied.length === 0 ? 'schema up to date\n' : `applied ${applied.join(', ')}\n`);
    } finally {
      await db.close();
    }
  });

registerWorkerCommand(program, async () => {
  const config = await loadConfigFromProcess();
  return { app: await (await app()).createApp(config), admin: { port: config.admin.port, host: config.admin.host } };
});

program
  .command('stages')
  .description('List the stages a worker can run')
  .action(async () => {
    const { createApp } = await app();
    const running = await createApp(await loadConfigFromProcess());
    for (const s of running.stages)
      process.stdout.write(
        `${s.name}\t${s.consumers.map((c) => `${c.options.topic}→${c.options.group}`).join(', ')}\n`,
      );
    await running.close();
  });

registerDeadLetterCommands(program, async () => (await app()).createApp(await loadConfigFromProcess()));
registerComplianceCommands(program, async () => (await app()).createApp(await loadConfigFromProcess()));
registerCampaignCommands(program, apiTarget);
registerJourneyCommands(program, apiTarget);
registerReportCommands(program, apiTarget);

registerListCommands(program, apiTarget);
registerAccessCommands(program, {
  open: async () => (await app()).openAccess(await loadConfigFromProcess()),
  api: () => apiTarget(undefined),
});
registerInboundCommands(program);
registerAttributionCommands(program);
registerBillingCommands(program, async () => (await app()).createApp(await loadConfigFromProcess()));
registerWebhookCommands(program, async (secrets) => (await app()).createWebhookVerifiers(secrets));
registerSuppressionCommands(program, async () => (await app()).createApp(await loadConfigFromProcess()));
registerPrivacyCommands(program, async () => (await app()).createApp(await loadConfigFromProcess()));

/** Every command: one error line naming the command's help instead of commander's text plus full help. */
function quietErrors(cmd: Command, path: string): void {
  cmd.exitOverride();
  cmd.configureOutput({
    outputError: (text, write) => {
      const line = text
        .trim()
        .replace(/^error: /, '')
        .replace(/\s*\n\s*/g, ' ');
      write(`switchyard: ${line}; see \`${path} --help\`\n`);
    },
  });
  for (const sub of cmd.commands) quietErrors(sub, `${path} ${sub.name()}`);
}
quietErrors(program, 'switchyard');
markRequired(program);

/** Help says which options are required (commander lists them like any other). */
function markRequired(cmd: Command): void {
  for (const o of cmd.options)
    if (o.mandatory && !/required/.test(o.description)) o.description = `${o.description} (required)`.trim();
  for (const sub of cmd.commands) markRequired(sub);
}

/** Runs one command line; bin/switchyard.js calls it with the process's arguments and environment. */
export function runCli(argv: readonly string[], env: Record<string, string | undefined>): void {
  cliEnv = env;
  program.parseAsync([...argv]).catch(fail);
}
