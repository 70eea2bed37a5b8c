/**
 * `switchyard campaign …`: the campaign lifecycle over the admin API of a running server (the
 * same API users script against; an embedded PGlite store has one owner, the server), with the
 * CLI's API key (SWITCHYARD_API_KEY or the local key file).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { demoCampaign } from '../../demo/campaign.ts';
import { callApi, type ApiTarget } from '../http.ts';

interface Status {
  campaign: {
    id: string;
    name: string;
    status: string;
    statusReason: string | null;
    selected: number;
    selectDone: boolean;
  };
  counts: Record<string, number>;
  ratePerSecond: number;
  etaSeconds: number | null;
}

/** The admin API, from `--url` or the configured admin listener, with the CLI's key. */
export type TargetResolver = (url: string | undefined) => ApiTarget;

/** One line: a bar of handled / selected and the counts that matter. */
export function progressLine(s: Status, width = 30): string {
  const done = [
    'sent',
    'delivered',
    'bounced',
    'failed',
    'suppressed',
    'capped',
    'cancelled',
    'unknown',
    'complained',
    'deferred',
  ].reduce((n, k) => n + (s.counts[k] ?? 0), 0);
  const total = Math.max(s.campaign.selected, done, 1);
  const filled = Math.round((done / total) * width);
  const eta = s.etaSeconds === null ? '' : ` eta ${s.etaSeconds}s`;
  const counts = Object.entries(s.counts)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `
    + `${done}/${s.campaign.selectDone ? total : `${total}+`} ${s.campaign.status} ${s.ratePerSecond}/s${eta}  `
    + `${counts}`
  );
}

async function watch(base: ApiTarget, id: string, out: NodeJS.WriteStream): Promise<Status> {
  for (;;) {
    const s = await callApi<Status>(base, 'GET', `/v1/campaigns/${id}/status`);
    out.write(`${out.isTTY ? '\r\x1b[2K' : ''}${progressLine(s)}${out.isTTY ? '' : '\n'}`);
    if (
      !['running', 'draft', 'paused'].includes(s.campaign.status)
      || (s.campaign.status === 'paused' && s.campaign.statusReason !== null && !out.isTTY)
    ) {
      out.write(`\n${s.campaign.status}${s.campaign.statusReason ? `: ${s.campaign.statusReason}` : ''}\n`);
      return s;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function registerCampaignCommands(program: Command, resolveTarget: TargetResolver): void {
  const cmd = program
    .command('campaign')
    .description('Create, run and watch campaigns through a running server')
    .option('--url <url>', 'admin API base URL (default: the configured admin listener, http://127.0.0.1:3001)');
  const base = (): ApiTarget => resolveTarget((cmd.opts() as { url?: string }).url);
  const print = (x: unknown): void => {
    process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
  };

  cmd
    .command('demo')
    .description('Create and start the demo campaign on the demo workspace, then watch it')
    .option('--size <n>', 'audience size', (v) => Number(v))
    .option('--no-watch', 'return after starting')
    .action(async (opts: { size?: number; watch: boolean }) => {
      const created = await callApi<{ id: string }>(
        base(),
        'POST',
        '/v1/campaigns',
        demoCampaign(opts.size === undefined ? {} : { audience: { source: 'demo', size: opts.size } }),
      );
      await callApi(base(), 'POST', `/v1/campaigns/${created.id}/start`);
      process.stdout.write(`started ${created.id}\n`);
      if (opts.watch) await watch(base(), created.id, process.stdout);
    });
  cmd
    .command('create')
    .description('Create a draft from a JSON definition file')
    .argument('<file>')
    .action(async (file: string) =>
      print(await callApi(base(), 'POST', '/v1/campaigns', JSON.parse(readFileSync(file, 'utf8')))),
    );
  cmd
    .command('validate')
    .description('Validate a saved campaign, or a JSON file')
    .argument('<idOrFile>')
    .action(async (x: string) => {
      const r = x.endsWith('.json')
        ? await callApi<{ ok: boolean }>(base(), 'POST', '/v1/campaigns/validate', JSON.parse(readFileSync(x, 'utf8')))
        : await callApi<{ ok: boolean }>(base(), 'POST', `/v1/campaigns/${x}/validate`);
      print(r);
      if (!r.ok) process.exitCode = 1;
    });
  cmd
    .command('preview')
    .description('Render the message a contact would get')
    .argument('<id>')
    .requiredOption('--email <email>')
    .option('--contact <id>', 'contact id', 'preview')
    .option('--field <k=v...>', 'extra contact fields')
    .action(async (id: string, o: { email: string; contact: string; field?: string[] }) => {
      const fields = Object.fromEntries(
        (o.field ?? []).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]),
      );
      print(await callApi(base(), 'POST', `/v1/campaigns/${id}/preview`, { id: o.contact, email: o.email, ...fields }));
    });
  for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
    cmd
      .command(action)
      .description(`${action} a campaign`)
      .argument('<id>')
      .action(async (id: string) => print(await callApi(base(), 'POST', `/v1/campaigns/${id}/${action}`)));
  }
  cmd
    .command('status')
    .description('Counts per stage and outcome, rate, ETA')
    .argument('<id>')
    .option('--watch', 'live progress bar until it ends')
    .action(async (id: string, o: { watch?: boolean }) => {
      if (o.watch) await watch(base(), id, process.stdout);
      else print(await callApi(base(), 'GET', `/v1/campaigns/${id}/status`));
    });
  cmd
    .command('list')
    .description('Recent campaigns')
    .action(async () => print(await callApi(base(), 'GET', '/v1/campaigns')));
}
