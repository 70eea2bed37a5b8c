/**
 * `switchyard campaign …`: the campaign lifecycle over the admin API of a running server (the
 * same API users script against; an embedded PGlite store has one owner, the server), with the
 * CLI's API key (SWITCHYARD_API_KEY or the local key file). Human-readable by default; `--json`
 * prints the API's JSON unchanged for scripts.
 */
import type { Command } from 'commander';
import { demoCampaign } from '../../demo/campaign.ts';
import { ApiError, CliError, EXIT } from '../errors.ts';
import { readJsonFile } from '../files.ts';
import {
  type AbTestView,
  formatAbTest,
  formatCampaignList,
  formatStatus,
  progressLine,
  type CampaignRow,
  type StatusView,
} from '../format.ts';
import { callApi, UnreachableError, type ApiTarget } from '../http.ts';

/** The admin API, from `--url` or the configured admin listener, with the CLI's key. */
export type TargetResolver = (url: string | undefined) => ApiTarget | Promise<ApiTarget>;

interface CampaignJson extends CampaignRow {
  statusReason: string | null;
}

/** The API's refusals about one campaign, said as what to do next. */
function explain(err: unknown, id: string, action: string): never {
  if (!(err instanceof ApiError)) throw err;
  if (err.status === 404 && err.code === 'NOT_FOUND')
    throw new CliError(`campaign ${id} not found; \`switchyard campaign list\` shows the campaigns`, EXIT.failed, {
      cause: err,
    });
  if (err.code === 'CAMPAIGN_STATE_CONFLICT') {
    const hint =
      action === 'start'
        ? 'to send it again, create a new campaign (`switchyard campaign create FILE`)'
        : '`switchyard campaign status ' + id + '` shows its state';
    throw new CliError(`cannot ${action} campaign ${id}: ${err.serverMessage}; ${hint}`, EXIT.failed, { cause: err });
  }
  if (err.code === 'CAMPAIGN_INVALID')
    throw new CliError(
      `cannot ${action} campaign ${id}: ${err.serverMessage}; `
        + `fix the definition (\`switchyard campaign validate ${id}\`)`,
      EXIT.failed,
      { cause: err },
    );
  throw err;
}

export interface WatchOptions {
  intervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Status lines; the watcher's notes (unreachable, reconnected) go to `note`. */
  note?: (line: string) => void;
}

/**
 * Polls the status until the campaign ends. A server that stops answering (restart, deploy) is
 * waited for: one line when it goes away, one when it is back, and the progress resumes.
 */
export async function watch(
  target: ApiTarget,
  id: string,
  out: NodeJS.WritableStream & { isTTY?: boolean },
  options: WatchOptions = {},
): Promise<StatusView> {
  const intervalMs = options.intervalMs ?? 1000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const tty = out.isTTY === true;
  const note = options.note ?? ((line: string) => out.write(`${tty ? '\r\x1b[2K' : ''}${line}\n`));
  let away = false;
  for (;;) {
    let s: StatusView;
    try {
      s = await callApi<StatusView>(target, 'GET', `/v1/campaigns/${encodeURIComponent(id)}/status`);
    } catch (err) {
      if (!(err instanceof UnreachableError || (err instanceof ApiError && err.status >= 502)))
        explain(err, id, 'watch');
      if (!away) note(`server unreachable at ${target.base}, retrying…`);
      away = true;
      await sleep(intervalMs);
      continue;
    }
    if (away) note('reconnected');
    away = false;
    out.write(`${tty ? '\r\x1b[2K' : ''}${progressLine(s)}${tty ? '' : '\n'}`);
    if (
      !['running', 'draft', 'paused'].includes(s.campaign.status)
      || (s.campaign.status === 'paused' && s.campaign.statusReason !== null && !tty)
    ) {
      out.write(
        `${tty ? '\n' : ''}${s.campaign.status}${s.campaign.statusReason ? `: ${s.campaign.statusReason}` : ''}\n`,
      );
      return s;
    }
    await sleep(intervalMs);
  }
}

function problemsLines(what: string, errors: readonly string[]): string {
  const list = errors.map((e) => `  - ${e}`).join('\n');
  return `${what} has ${errors.length} problem${errors.length === 1 ? '' : 's'}:\n${list}`;
}

export function registerCampaignCommands(program: Command, resolveTarget: TargetResolver): void {
  const cmd = program
    .command('campaign')
    .description('Create, run and watch campaigns through a running server')
    .option('--url <url>', 'admin API base URL (default: the configured admin listener, http://127.0.0.1:3001)')
    .option('--json', "print the API's JSON (for scripts) instead of text");
  const opts = (): { url?: string; json?: boolean } => cmd.opts();
  const base = async (): Promise<ApiTarget> => resolveTarget(opts().url);
  const json = (x: unknown): boolean => {
    if (opts().json !== true) return false;
    process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
    return true;
  };
  const say = (lines: string | readonly string[]): void => {
    process.stdout.write(`${typeof lines === 'string' ? lines : lines.join('\n')}\n`);
  };

  cmd
    .command('demo')
    .description('Create and start the demo campaign on the demo workspace, then watch it')
    .option('--size <n>', 'audience size', (v) => Number(v))
    .option('--no-watch', 'return after starting')
    .action(async (o: { size?: number; watch: boolean }) => {
      const target = await base();
      const created = await callApi<{ id: string }>(
        target,
        'POST',
        '/v1/campaigns',
        demoCampaign(o.size === undefined ? {} : { audience: { source: 'demo', size: o.size } }),
      );
      await callApi(target, 'POST', `/v1/campaigns/${created.id}/start`).catch((e) => explain(e, created.id, 'start'));
      say(`started ${created.id}`);
      if (o.watch) await watch(target, created.id, process.stdout);
    });

  cmd
    .command('create')
    .description('Create a draft from a JSON definition file (every problem is listed before anything is saved)')
    .argument('<file>', 'campaign definition (JSON)')
    .action(async (file: string) => {
      const definition = readJsonFile(file, 'campaign definition');
      const target = await base();
      const check = await callApi<{ ok: boolean; errors: string[] }>(
        target,
        'POST',
        '/v1/campaigns/validate',
        definition,
      );
      if (!check.ok) throw new CliError(`${problemsLines(file, check.errors)}\nnothing was created`, EXIT.failed);
      const created = await callApi<CampaignJson>(target, 'POST', '/v1/campaigns', definition);
      if (!json(created)) say(`created draft ${created.id}; start it with \`switchyard campaign start ${created.id}\``);
    });

  cmd
    .command('validate')
    .description('Validate a saved campaign (by id) or a JSON file; lists every problem')
    .argument('<idOrFile>', 'campaign id, or a .json file')
    .action(async (x: string) => {
      const target = await base();
      const isFile = x.endsWith('.json');
      const r = isFile
        ? await callApi<{ ok: boolean; errors: string[] }>(
            target,
            'POST',
            '/v1/campaigns/validate',
            readJsonFile(x, 'campaign definition'),
          )
        : await callApi<{ ok: boolean; errors: string[] }>(target, 'POST', `/v1/campaigns/${x}/validate`).catch((e) =>
            explain(e, x, 'validate'),
          );
      if (!json(r)) say(r.ok ? `${x}: valid` : problemsLines(x, r.errors));
      if (!r.ok) process.exitCode = EXIT.failed;
    });

  cmd
    .command('preview')
    .description('Render the message a contact would get')
    .argument('<id>', 'campaign id')
    .requiredOption('--email <email>', 'the contact address to render for')
    .option('--contact <id>', 'contact id', 'preview')
    .option('--field <k=v...>', 'extra contact fields')
    .action(async (id: string, o: { email: string; contact: string; field?: string[] }) => {
      const fields = Object.fromEntries(
        (o.field ?? []).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]),
      );
      const m = await callApi<{
        from: { email?: string; address?: string; name?: string };
        to: { email?: string; address?: string };
        subject: string;
        headers: Record<string, string>;
        text: string;
      }>(await base(), 'POST', `/v1/campaigns/${id}/preview`, { id: o.contact, email: o.email, ...fields }).catch((e) =>
        explain(e, id, 'preview'),
      );
      if (json(m)) return;
      const addr = (a: { email?: string; address?: string; name?: string }): string =>
        a.name ? `${a.name} <${a.email ?? a.address}>` : String(a.email ?? a.address);
      say([
        `From: ${addr(m.from)}`,
        `To: ${addr(m.to)}`,
        `Subject: ${m.subject}`,
        ...Object.entries(m.headers).map(([k, v]) => `${k}: ${v}`),
        '',
        m.text,
      ]);
    });

  for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
    cmd
      .command(action)
      .description(`${action[0]!.toUpperCase()}${action.slice(1)} a campaign`)
      .argument('<id>', 'campaign id')
      .action(async (id: string) => {
        const c = await callApi<CampaignJson>(await base(), 'POST', `/v1/campaigns/${id}/${action}`).catch((e) =>
          explain(e, id, action),
        );
        if (!json(c)) say(`campaign ${c.id} is ${c.status}${c.statusReason ? ` (${c.statusReason})` : ''}`);
      });
  }

  cmd
    .command('status')
    .description('Progress, rate, ETA, outcomes and deliverability of a campaign')
    .argument('<id>', 'campaign id')
    .option('--watch', 'live progress until it ends (waits for the server across restarts)')
    .option('--interval <ms>', 'how often --watch asks', (v) => Number(v), 1000)
    .action(async (id: string, o: { watch?: boolean; interval: number }) => {
      const target = await base();
      if (o.watch) {
        await watch(target, id, process.stdout, { intervalMs: o.interval });
        return;
      }
      const s = await callApi<StatusView>(target, 'GET', `/v1/campaigns/${id}/status`).catch((e) =>
        explain(e, id, 'show'),
      );
      if (!json(s)) say(formatStatus(s));
    });

  cmd
    .command('watch')
    .description('Live progress until the campaign ends (same as `status --watch`)')
    .argument('<id>', 'campaign id')
    .option('--interval <ms>', 'how often to ask', (v) => Number(v), 1000)
    .action(async (id: string, o: { interval: number }) => {
      await watch(await base(), id, process.stdout, { intervalMs: o.interval });
    });

  cmd
    .command('ab-test')
    .description("A campaign's A/B test: per-variant results with intervals, the rule, the decision")
    .argument('<id>', 'campaign id')
    .action(async (id: string) => {
      const r = await callApi<AbTestView>(await base(), 'GET', `/v1/campaigns/${id}/ab-test`).catch((e) =>
        explain(e, id, 'show the A/B test of'),
      );
      if (!json(r)) say(formatAbTest(r));
    });

  cmd
    .command('pick-winner')
    .description('Stop the A/B test now and send the rest of the audience this variant')
    .argument('<id>', 'campaign id')
    .argument('<variant>', 'variant number (0 is the control)', (v) => Number(v))
    .action(async (id: string, variant: number) => {
      const r = await callApi<AbTestView>(await base(), 'POST', `/v1/campaigns/${id}/ab-test/winner`, {
        variant,
      }).catch((e) => explain(e, id, 'pick a winner for'));
      if (!json(r)) say(formatAbTest(r));
    });

  cmd
    .command('list')
    .description('Recent campaigns, newest first')
    .action(async () => {
      const r = await callApi<{ campaigns: CampaignJson[] }>(await base(), 'GET', '/v1/campaigns');
      if (!json(r)) say(formatCampaignList(r.campaigns));
    });
}
