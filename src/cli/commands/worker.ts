/**
 * `switchyard worker --stage X [Y…]`: runs only those stages' consumer groups and loops, as many
 * processes per stage as wanted (the bus gives competing consumers disjoint work). With
 * `--listen` it also opens the admin listener (health, readiness, /metrics) for probes and
 * scrapes. SIGTERM or SIGINT stops fetching, lets in-flight batches finish and settle, hands
 * back whatever is still leased (the bus's close), then exits 0; a second signal exits at once.
 */
import type { Command } from 'commander';

/** The part of the app a worker uses; main.ts opens the whole app. */
export interface WorkerApp {
  startWorkers(only?: readonly string[]): unknown[];
  adminServer: { listen(o: { port: number; host: string }): Promise<string> };
  close(): Promise<void>;
}

export interface WorkerTarget {
  app: WorkerApp;
  admin: { port: number; host: string };
}

export function registerWorkerCommand(program: Command, open: () => Promise<WorkerTarget>): void {
  program
    .command('worker')
    .description('Run the consumers of one or more stages only (no public HTTP server)')
    .requiredOption('--stage <name...>', 'stage name(s) (required; `switchyard stages` lists them)')
    .option('--listen', 'open the admin listener (SWITCHYARD_ADMIN_PORT/HOST): /healthz, /readyz, /metrics')
    .action(async (opts: { stage: string[]; listen?: boolean }) => {
      const { app, admin } = await open();
      const consumers = app.startWorkers(opts.stage);
      const url = opts.listen === true ? await app.adminServer.listen(admin) : null;
      process.stdout.write(
        `worker running ${consumers.length} consumer(s) for ${opts.stage.join(', ')}`
          + `${url === null ? '' : ` (health and metrics on ${url})`}\n`,
      );
      let stopping = false;
      const shutdown = async (): Promise<void> => {
        if (stopping) process.exit(1);
        stopping = true;
        process.stdout.write('worker stopping: finishing in-flight work\n');
        await app.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void shutdown());
      process.on('SIGTERM', () => void shutdown());
    });
}
