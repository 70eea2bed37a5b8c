/**
 * `switchyard keys create|list|revoke` and `switchyard audit list|verify`, on the store directly
 * (key changes are audited in the same transaction, as the CLI user). The embedded PGlite store
 * has one owner: while a server runs on it, the same commands go through its admin API with the
 * CLI's key (audited there as that key), never around the lock. Exit codes: 0 ok, 1 failure or
 * broken chain, 2 bad input.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { AuditFilter, AuditLog, AuditRecord, ChainCheck } from '../../access/audit.ts';
import type { ApiKeyInfo, KeyService } from '../../access/keys.ts';
import { isRole, ROLES, scopesOf, type Role } from '../../core/access-roles.ts';
import { isSwitchyardError, SwitchyardError } from '../../core/errors.ts';
import { callApi, type ApiTarget } from '../http.ts';

export interface AccessCliStore {
  keys: KeyService;
  audit: AuditLog;
  close(): Promise<void>;
}

export interface AccessCliDeps {
  open(): Promise<AccessCliStore>;
  /** The admin API of a server that holds the store, with the CLI's key. */
  api(): ApiTarget | Promise<ApiTarget>;
}

/** What the commands need, from the store or from the admin API. */
interface AccessBackend {
  createKey(input: { name: string; role: Role }): Promise<{ info: ApiKeyInfo; key: string }>;
  listKeys(): Promise<ApiKeyInfo[]>;
  revokeKey(id: string): Promise<ApiKeyInfo>;
  listAudit(filter: AuditFilter): Promise<{ entries: AuditRecord[]; next: number | null }>;
  verifyAudit(): Promise<ChainCheck>;
  close(): Promise<void>;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function cliActor(): { actorKeyId: null; actorName: string; role: null; sourceIp: null } {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (containers): keep "unknown" */
  }
  return { actorKeyId: null, actorName: `cli:${user}`, role: null, sourceIp: null };
}

function storeBackend(store: AccessCliStore): AccessBackend {
  const actor = cliActor();
  const by = { by: actor.actorName, audit: actor };
  return {
    createKey: (input) => store.keys.create(input, by),
    listKeys: () => store.keys.list(),
    revokeKey: (id) => store.keys.revoke(id, by),
    listAudit: (f) => store.audit.list(f),
    verifyAudit: () => store.audit.verify(),
    close: () => store.close(),
  };
}

/** JSON carries times as ISO strings; the printers take Dates. */
function keyFromJson(k: ApiKeyInfo): ApiKeyInfo {
  return { ...k, createdAt: new Date(k.createdAt), revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt) };
}

function apiBackend(target: ApiTarget): AccessBackend {
  return {
    createKey: async (input) => {
      const r = await callApi<{ info: ApiKeyInfo; key: string }>(target, 'POST', '/v1/keys', input);
      return { key: r.key, info: keyFromJson(r.info) };
    },
    listKeys: async () => (await callApi<{ keys: ApiKeyInfo[] }>(target, 'GET', '/v1/keys')).keys.map(keyFromJson),
    revokeKey: async (id) =>
      keyFromJson(await callApi<ApiKeyInfo>(target, 'POST', `/v1/keys/${encodeURIComponent(id)}/revoke`)),
    listAudit: async (f) => {
      const q = new URLSearchParams({ limit: String(f.limit) });
      if (f.actorKeyId !== undefined) q.set('actorKeyId', f.actorKeyId);
      if (f.action !== undefined) q.set('action', f.action);
      if (f.since !== undefined) q.set('since', f.since.toISOString());
      if (f.until !== undefined) q.set('until', f.until.toISOString());
      if (f.before !== undefined) q.set('before', String(f.before));
      const r = await callApi<{ entries: AuditRecord[]; next: number | null }>(
        target,
        'GET',
        `/v1/audit?${q.toString()}`,
      );
      return { next: r.next, entries: r.entries.map((e) => ({ ...e, at: new Date(e.at) })) };
    },
    verifyAudit: () => callApi<ChainCheck>(target, 'GET', '/v1/audit/verify'),
    close: async () => undefined,
  };
}

/** The store; when a server holds the embedded store, that server's admin API, if it answers. */
async function openBackend(deps: AccessCliDeps): Promise<AccessBackend> {
  try {
    return storeBackend(await deps.open());
  } catch (err) {
    if (!isSwitchyardError(err) || err.code !== 'STORE_UNREACHABLE') throw err;
    const target = await deps.api();
    const answers = await fetch(`${target.base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (!answers)
      throw new SwitchyardError(
        'STORE_UNREACHABLE',
        `${err.message}\nand no admin API answers at ${target.base} (set --url or SWITCHYARD_ADMIN_PORT)`,
        { cause: err },
      );
    return apiBackend(target);
  }
}

async function withBackend<T>(deps: AccessCliDeps, fn: (b: AccessBackend) => Promise<T>): Promise<T> {
  const backend = await openBackend(deps);
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

export function registerAccessCommands(program: Command, deps: AccessCliDeps): void {
  const keys = program.command('keys').description('Create, list and revoke admin API keys');
  keys
    .command('create')
    .description('Create an API key; the key is printed once, alone on the last line')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'who or what uses it, e.g. "ci" or "alice"')
    .action(async (o: { role: string; name: string }) => {
      if (!isRole(o.role)) {
        process.stderr.write(`unknown role ${JSON.stringify(o.role)}; roles: ${ROLES.join(', ')}\n`);
        process.exitCode = 2;
        return;
      }
      const role = o.role;
      const created = await withBackend(deps, (b) => b.createKey({ name: o.name, role }));
      out(
        `created ${created.info.id} name=${created.info.name} role=${created.info.role} prefix=${created.info.prefix}`,
      );
      out(`scopes: ${scopesOf(role).join(' ')}`);
      out('The key is shown only now; store it (e.g. SWITCHYARD_API_KEY). Key:');
      out(created.key);
    });
  keys
    .command('list')
    .description('List keys (never their secrets)')
    .action(async () => {
      const list = await withBackend(deps, (b) => b.listKeys());
      for (const k of list) {
        out(
          `${k.id}\t${k.name}\t${k.role}\tsy_${k.prefix}_…\tcreated ${k.createdAt.toISOString()} by `
            + `${k.createdBy}\t${k.revokedAt === null ? 'active' : `revoked ${k.revokedAt.toISOString()}`}`,
        );
      }
      if (list.length === 0) out('no keys');
    });
  keys
    .command('revoke')
    .description('Revoke a key at once')
    .argument('<id>')
    .action(async (id: string) => {
      const k = await withBackend(deps, (b) => b.revokeKey(id));
      out(`revoked ${k.id} (${k.name}, ${k.role}) at ${k.revokedAt?.toISOString() ?? ''}`);
    });

  const audit = program.command('audit').description('Read and verify the audit log');
  audit
    .command('list')
    .description('Audit rows, newest first')
    .option('--actor <keyId>', 'only this key')
    .option('--action <action>', 'only this action, e.g. "POST /v1/campaigns/:id/start"')
    .option('--since <iso>', 'from this time')
    .option('--until <iso>', 'before this time')
    .option('--before <id>', 'page: rows older than this id', (v) => Number(v))
    .option('--limit <n>', 'how many', (v) => Number(v), 50)
    .option('--json', 'one JSON object per line')
    .action(
      async (o: {
        actor?: string;
        action?: string;
        since?: string;
        until?: string;
        before?: number;
        limit: number;
        json?: boolean;
      }) => {
        const dates = [o.since, o.until].map((d) => (d === undefined ? undefined : new Date(d)));
        if (
          dates.some((d) => d !== undefined && Number.isNaN(d.getTime()))
          || !Number.isInteger(o.limit)
          || o.limit < 1
          || o.limit > 1000
          || (o.before !== undefined && !Number.isInteger(o.before))
        ) {
          process.stderr.write('--since/--until must be ISO times, --limit 1..1000, --before an id\n');
          process.exitCode = 2;
          return;
        }
        const page = await withBackend(deps, (b) =>
          b.listAudit({
            actorKeyId: o.actor,
            action: o.action,
            since: dates[0],
            until: dates[1],
            before: o.before,
            limit: o.limit,
          }),
        );
        for (const e of page.entries) {
          out(
            o.json === true
              ? JSON.stringify(e)
              : `${e.id}\t${e.at.toISOString()}\t${e.actorName}`
                  + `${e.actorKeyId === null ? '' : ` (${e.actorKeyId})`}\t${e.role ?? '-'}\t${e.action}\t`
                  + `${JSON.stringify(Object.fromEntries(Object.entries(e.target).sort()))}\t${e.outcome}\t`
                  + `${e.sourceIp ?? '-'}`,
          );
        }
        if (page.entries.length === 0 && o.json !== true) out('no audit rows');
        if (page.next !== null && o.json !== true) out(`more: --before ${page.next}`);
      },
    );
  audit
    .command('verify')
    .description('Check the hash chain; exit 1 naming the first broken row')
    .action(async () => {
      const r = await withBackend(deps, (b) => b.verifyAudit());
      if (r.ok) out(`audit chain intact: ${r.rows} rows`);
      else {
        out(
          `audit chain BROKEN at row ${r.brokenId} (`
            + `${r.reason === 'hash' ? 'content does not match its hash' : 'does not link to the row before it'}`
            + `); ${r.rows} rows before it verify`,
        );
        process.exitCode = 1;
      }
    });
}
