/**
 * `switchyard lists …` and `switchyard profiles show`: thin calls to the admin API (the server
 * owns the store). `lists rebuild` starts a full evaluation and draws its progress bar until done.
 */
import type { Command } from 'commander';
import { CliError, EXIT } from '../errors.ts';
import { readJsonFile } from '../files.ts';
import { type ApiTarget, callApi } from '../http.ts';

interface ListView {
  id: string;
  name: string;
  kind: string;
  members?: number;
  rebuild: { state: string | null; done: number; total: number; changed: number; error: string | null };
}

/** `[#####.....] 500,000/1,000,000 running, 1,234 changed` */
export function rebuildBar(r: ListView['rebuild'], width = 30): string {
  const total = Math.max(r.total, r.done, 1);
  const filled = Math.min(width, Math.round((Math.min(r.done, total) / total) * width));
  const n = (x: number) => x.toLocaleString('en-US');
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  return `${bar} ${n(Math.min(r.done, total))}/${n(total)} ${r.state ?? 'never built'}, ${n(r.changed)} changed`;
}

export function registerListCommands(
  program: Command,
  target: (url: string | undefined) => Promise<ApiTarget>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): void {
  const url = ['--url <url>', 'admin API base URL (default: the configured admin listener)'] as const;
  const lists = program.command('lists').description('Static and dynamic lists (docs/lists.md)');
  lists
    .command('ls')
    .description('All lists')
    .option(...url)
    .action(async (o: { url?: string }) => {
      const { lists: rows } = await callApi<{ lists: ListView[] }>(await target(o.url), 'GET', '/v1/lists');
      for (const l of rows) process.stdout.write(`${l.id}\t${l.kind}\t${l.name}\t${l.rebuild.state ?? '-'}\n`);
      if (rows.length === 0) process.stdout.write('no lists\n');
    });
  lists
    .command('show')
    .argument('<id>')
    .description('A list, its size and rebuild progress')
    .option(...url)
    .action(async (id: string, o: { url?: string }) => {
      const l = await callApi<ListView>(await target(o.url), 'GET', `/v1/lists/${encodeURIComponent(id)}`);
      process.stdout.write(
        `${l.id} (${l.kind}) ${l.name}: ${l.members ?? 0} members\nrebuild ${rebuildBar(l.rebuild)}\n`,
      );
    });
  lists
    .command('create')
    .argument('<file>', 'JSON: { id?, name, kind, definition? }')
    .description('Create a list from a JSON file')
    .option(...url)
    .action(async (file: string, o: { url?: string }) => {
      const l = await callApi<ListView>(await target(o.url), 'POST', '/v1/lists', readJsonFile(file, 'list'));
      process.stdout.write(`created ${l.id}\n`);
    });
  lists
    .command('preview')
    .argument('<file>', 'JSON segment definition')
    .description('How many profiles a definition selects, and 20 of them')
    .option(...url)
    .action(async (file: string, o: { url?: string }) => {
      const p = await callApi<{ count: number; sample: { contactId: string }[] }>(
        await target(o.url),
        'POST',
        '/v1/lists/preview',
        {
          definition: readJsonFile(file, 'definition'),
        },
      );
      process.stdout.write(`${p.count} profiles\n${p.sample.map((s) => s.contactId).join('\n')}\n`);
    });
  lists
    .command('rebuild')
    .argument('<id>')
    .description('Evaluate a list over every profile, with a progress bar')
    .option(...url)
    .action(async (id: string, o: { url?: string }) => {
      const t = await target(o.url);
      let l = await callApi<ListView>(t, 'POST', `/v1/lists/${encodeURIComponent(id)}/rebuild`);
      const tty = process.stdout.isTTY === true;
      for (;;) {
        const line = rebuildBar(l.rebuild);
        process.stdout.write(tty ? `\r${line}` : `${line}\n`);
        if (l.rebuild.state === 'done') break;
        if (l.rebuild.state === 'failed')
          throw new CliError(`rebuild of ${id} failed: ${l.rebuild.error}`, EXIT.failed);
        await sleep(500);
        l = await callApi<ListView>(t, 'GET', `/v1/lists/${encodeURIComponent(id)}`);
      }
      if (tty) process.stdout.write('\n');
    });
  lists
    .command('history')
    .argument('<id>')
    .option('--contact <contactId>', 'only this contact')
    .description('Membership transitions, newest first, with their cause')
    .option(...url)
    .action(async (id: string, o: { url?: string; contact?: string }) => {
      const q = o.contact === undefined ? '' : `?contactId=${encodeURIComponent(o.contact)}`;
      const { history } = await callApi<{
        history: { at: string; contactId: string; entered: boolean; cause: { kind: string; id: string } }[];
      }>(await target(o.url), 'GET', `/v1/lists/${encodeURIComponent(id)}/history${q}`);
      for (const h of history) {
        process.stdout.write(
          `${h.at}\t${h.contactId}\t${h.entered ? 'entered' : 'exited'}\t${h.cause.kind}:${h.cause.id}\n`,
        );
      }
    });
  program
    .command('profiles')
    .description('Contact profiles')
    .command('show')
    .argument('<contactId>')
    .description("A contact's profile, lists and list history (JSON)")
    .option(...url)
    .action(async (id: string, o: { url?: string }) => {
      const p = await callApi<unknown>(await target(o.url), 'GET', `/v1/profiles/${encodeURIComponent(id)}`);
      process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
    });
}
