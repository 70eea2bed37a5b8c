/**
 * `switchyard journeys …` and `switchyard messages send …`: journeys and transactional messages
 * over the admin API of a running server, with the CLI's key. Text by default; `--json` prints
 * the API's JSON unchanged. `journeys why CONTACT` answers "why did I get this email?".
 */
import type { Command } from 'commander';
import { ApiError, CliError, EXIT } from '../errors.ts';
import { readJsonFile } from '../files.ts';
import { callApi, type ApiTarget } from '../http.ts';
import type { TargetResolver } from './campaigns.ts';

interface HistoryJson {
  contactId: string;
  runs: {
    id: string;
    journeyId: string;
    version: number;
    status: string;
    trigger: Record<string, unknown>;
    startedAt: string;
    endReason: string | null;
    nextStep: string | null;
    dueAt: string | null;
    steps: {
      stepId: string;
      type: string;
      outcome: string;
      at: string;
      email?: { state: string; reason: string | null };
    }[];
  }[];
}

/** The run history as lines a person reads top to bottom. */
export function formatHistory(h: HistoryJson): string[] {
  if (h.runs.length === 0) return [`contact ${h.contactId} has not been in any journey`];
  const lines: string[] = [];
  for (const r of h.runs) {
    const why = typeof r.trigger.type === 'string' ? r.trigger.type : 'unknown';
    lines.push(`${r.journeyId} v${r.version} (run ${r.id}) entered ${r.startedAt} by ${why}: ${r.status}`);
    for (const s of r.steps) {
      const email = s.email === undefined ? '' : ` → ${s.email.state}${s.email.reason ? ` (${s.email.reason})` : ''}`;
      lines.push(`  ${s.at}  ${s.stepId} [${s.type}] ${s.outcome}${email}`);
    }
    if (r.status === 'active') lines.push(`  next: ${r.nextStep} at ${r.dueAt}`);
    else if (r.endReason !== null) lines.push(`  ended: ${r.endReason}`);
  }
  return lines;
}

function explain(err: unknown, what: string): never {
  if (err instanceof ApiError && (err.code === 'JOURNEY_INVALID' || err.code === 'MESSAGE_INVALID'))
    throw new CliError(`${what} refused: ${err.serverMessage}`, EXIT.failed, { cause: err });
  if (err instanceof ApiError && err.code === 'NOT_FOUND')
    throw new CliError(`${what}: not found; \`switchyard journeys list\` shows the journeys`, EXIT.failed, {
      cause: err,
    });
  throw err;
}

export function registerJourneyCommands(program: Command, resolveTarget: TargetResolver): void {
  const cmd = program
    .command('journeys')
    .description('Save, inspect and explain journeys through a running server')
    .option('--url <url>', 'admin API base URL (default: the configured admin listener)')
    .option('--json', "print the API's JSON instead of text");
  const opts = (): { url?: string; json?: boolean } => cmd.opts();
  const base = async (): Promise<ApiTarget> => resolveTarget(opts().url);
  const out = (x: unknown, text: () => string | string[]): void => {
    const t = opts().json === true ? JSON.stringify(x, null, 2) : text();
    process.stdout.write(`${typeof t === 'string' ? t : t.join('\n')}\n`);
  };

  cmd
    .command('save')
    .description('Create a journey from a JSON file, or save a new version of it (runs in flight keep theirs)')
    .argument('<id>', 'journey id')
    .argument('<file>', 'definition (JSON)')
    .action(async (id: string, file: string) => {
      const def = readJsonFile(file, 'journey definition');
      const r = await callApi<{ version: number; created: boolean }>(
        await base(),
        'PUT',
        `/v1/journeys/${encodeURIComponent(id)}`,
        def,
      ).catch((e: unknown) => explain(e, `journey ${id}`));
      out(r, () => `${r.created ? 'created' : 'saved'} journey ${id} version ${r.version}`);
    });
  cmd
    .command('validate')
    .description('Check a journey definition file; every problem by path')
    .argument('<file>', 'definition (JSON)')
    .action(async (file: string) => {
      const r = await callApi<{ ok: boolean; problems: { path: string; message: string }[] }>(
        await base(),
        'POST',
        '/v1/journeys/validate',
        readJsonFile(file, 'journey definition'),
      );
      out(r, () => (r.ok ? 'valid' : r.problems.map((p) => `${p.path}: ${p.message}`)));
      if (!r.ok) process.exitCode = EXIT.failed;
    });
  cmd
    .command('list')
    .description('Journeys and their status')
    .action(async () => {
      const r = await callApi<{ journeys: { id: string; name: string; status: string; currentVersion: number }[] }>(
        await base(),
        'GET',
        '/v1/journeys',
      );
      out(r, () =>
        r.journeys.length === 0
          ? 'no journeys'
          : r.journeys.map((j) => `${j.id}\tv${j.currentVersion}\t${j.status}\t${j.name}`),
      );
    });
  cmd
    .command('show')
    .description('A journey and how many runs are where')
    .argument('<id>', 'journey id')
    .action(async (id: string) => {
      const r = await callApi<{
        name: string;
        status: string;
        currentVersion: number;
        runs: { version: number; status: string; stepId: string | null; n: number }[];
      }>(await base(), 'GET', `/v1/journeys/${encodeURIComponent(id)}`).catch((e: unknown) => explain(e, id));
      out(r, () => [
        `${id} (${r.name}) v${r.currentVersion} ${r.status}`,
        ...r.runs.map((x) => `  v${x.version}\t${x.status}${x.stepId === null ? '' : ` at ${x.stepId}`}\t${x.n}`),
      ]);
    });
  for (const action of ['pause', 'resume', 'archive'] as const) {
    cmd
      .command(action)
      .description(`${action} a journey`)
      .argument('<id>', 'journey id')
      .action(async (id: string) => {
        const r = await callApi<{ status: string }>(
          await base(),
          'POST',
          `/v1/journeys/${encodeURIComponent(id)}/${action}`,
        ).catch((e: unknown) => explain(e, id));
        out(r, () => `journey ${id} is ${r.status}`);
      });
  }
  cmd
    .command('move-runs')
    .description('Move runs in flight from one version to another')
    .argument('<id>', 'journey id')
    .requiredOption('--from <version>', 'version the runs are on', (v) => Number(v))
    .requiredOption('--to <version>', 'version to move them to', (v) => Number(v))
    .action(async (id: string, o: { from: number; to: number }) => {
      const r = await callApi<{ moved: number; stayed: number }>(
        await base(),
        'POST',
        `/v1/journeys/${encodeURIComponent(id)}/move-runs`,
        o,
      ).catch((e: unknown) => explain(e, id));
      out(r, () => `moved ${r.moved} run(s); ${r.stayed} stayed (their step is not in v${o.to})`);
    });
  cmd
    .command('why')
    .description('Why did this contact get an email? Its journey runs, step by step')
    .argument('<contactId>', 'contact id')
    .action(async (contactId: string) => {
      const r = await callApi<HistoryJson>(
        await base(),
        'GET',
        `/v1/contacts/${encodeURIComponent(contactId)}/journeys`,
      );
      out(r, () => formatHistory(r));
    });

  const messages = program
    .command('messages')
    .description('Transactional messages through a running server')
    .option('--url <url>', 'admin API base URL (default: the configured admin listener)')
    .option('--json', "print the API's JSON instead of text");
  messages
    .command('send')
    .description('Send one templated message from a JSON file (POST /v1/messages; idempotent by its key)')
    .argument('<file>', 'message request (JSON: idempotencyKey, category, to, from, subject, template, data)')
    .action(async (file: string) => {
      const o = messages.opts<{ url?: string; json?: boolean }>();
      const r = await callApi<{ id: string; status: string; duplicate: boolean }>(
        await resolveTarget(o.url),
        'POST',
        '/v1/messages',
        readJsonFile(file, 'message request'),
      ).catch((e: unknown) => explain(e, 'message'));
      process.stdout.write(
        o.json === true
          ? `${JSON.stringify(r, null, 2)}\n`
          : `${r.id} ${r.status}${r.duplicate ? ' (repeat of an earlier request: nothing sent again)' : ''}\n`,
      );
    });
}
