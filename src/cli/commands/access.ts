/**
 * `switchyard keys create|list|revoke` and `switchyard audit list|verify`, on the store directly
 * (key changes are audited in the same transaction, as the CLI user). The embedded PGlite store
 * has one owner: while a server runs on it these commands refuse and name the admin API route
 * that does the same, rather than going around the lock. Exit codes: 0 ok, 1 failure or broken
 * chain, 2 bad input.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { AuditLog } from '../../access/audit.ts';
import type { KeyService } from '../../access/keys.ts';
import { isRole, ROLES, scopesOf } from '../../core/access-roles.ts';
import { isSwitchyardError, SwitchyardError } from '../../core/errors.ts';

export interface AccessCliStore { keys: KeyService; audit: AuditLog; close(): Promise<void> }

export interface AccessCliDeps {
  open(): Promise<AccessCliStore>;
  /** The admin URL named when the store is in use by a running server. */
  adminUrl(): string;
}

const out = (line: string): void => { process.stdout.write(`${line}\n`); };

function cliActor(): { actorKeyId: null; actorName: string; role: null; sourceIp: null } {
  let user = 'unknown';
  try { user = userInfo().username; } catch { /* no passwd entry (containers): keep "unknown" */ }
  return { actorKeyId: null, actorName: `cli:${user}`, role: null, sourceIp: null };
}

async function withStore<T>(deps: AccessCliDeps, route: string, fn: (s: AccessCliStore) => Promise<T>): Promise<T> {
  let store: AccessCliStore;
  try {
    store = await deps.open();
  } catch (err) {
    if (isSwitchyardError(err) && err.code === 'STORE_UNREACHABLE') {
      throw new SwitchyardError('STORE_UNREACHABLE', `${err.message}\nWith the server running, use the admin API instead: ${route} on ${deps.adminUrl()} with Authorization: Bearer <admin key>`, { cause: err });
    }
    throw err;
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function registerAccessCommands(program: Command, deps: AccessCliDeps): void {
  const keys = program.command('keys').description('Create, list and revoke admin API keys');
  keys.command('create').description('Create an API key; the key is printed once, alone on the last line')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'who or what uses it, e.g. "ci" or "alice"')
    .action(async (o: { role: string; name: string }) => {
      if (!isRole(o.role)) {
        process.stderr.write(`unknown role ${JSON.stringify(o.role)}; roles: ${ROLES.join(', ')}\n`);
        process.exitCode = 2;
        return;
      }
      const role = o.role;
      const actor = cliActor();
      const created = await withStore(deps, 'POST /v1/keys', (s) => s.keys.create({ name: o.name, role }, { by: actor.actorName, audit: actor }));
      out(`created ${created.info.id} name=${created.info.name} role=${created.info.role} prefix=${created.info.prefix}`);
      out(`scopes: ${scopesOf(role).join(' ')}`);
      out('The key is shown only now; store it (e.g. SWITCHYARD_API_KEY). Key:');
      out(created.key);
    });
  keys.command('list').description('List keys (never their secrets)').action(async () => {
    const list = await withStore(deps, 'GET /v1/keys', (s) => s.keys.list());
    for (const k of list) {
      out(`${k.id}\t${k.name}\t${k.role}\tsy_${k.prefix}_…\tcreated ${k.createdAt.toISOString()} by ${k.createdBy}\t${k.revokedAt === null ? 'active' : `revoked ${k.revokedAt.toISOString()}`}`);
    }
    if (list.length === 0) out('no keys');
  });
  keys.command('revoke').description('Revoke a key at once').argument('<id>').action(async (id: string) => {
    const actor = cliActor();
    const k = await withStore(deps, 'POST /v1/keys/:id/revoke', (s) => s.keys.revoke(id, { by: actor.actorName, audit: actor }));
    out(`revoked ${k.id} (${k.name}, ${k.role}) at ${k.revokedAt?.toISOString() ?? ''}`);
  });

  const audit = program.command('audit').description('Read and verify the audit log');
  audit.command('list').description('Audit rows, newest first')
    .option('--actor <keyId>', 'only this key')
    .option('--action <action>', 'only this action, e.g. "POST /v1/campaigns/:id/start"')
    .option('--since <iso>', 'from this time').option('--until <iso>', 'before this time')
    .option('--before <id>', 'page: rows older than this id', (v) => Number(v))
    .option('--limit <n>', 'how many', (v) => Number(v), 50)
    .option('--json', 'one JSON object per line')
    .action(async (o: { actor?: string; action?: string; since?: string; until?: string; before?: number; limit: number; json?: boolean }) => {
      const dates = [o.since, o.until].map((d) => (d === undefined ? undefined : new Date(d)));
      if (dates.some((d) => d !== undefined && Number.isNaN(d.getTime())) || !Number.isInteger(o.limit) || o.limit < 1 || o.limit > 1000 || (o.before !== undefined && !Number.isInteger(o.before))) {
        process.stderr.write('--since/--until must be ISO times, --limit 1..1000, --before an id\n');
        process.exitCode = 2;
        return;
      }
      const page = await withStore(deps, 'GET /v1/audit', (s) => s.audit.list({ actorKeyId: o.actor, action: o.action, since: dates[0], until: dates[1], before: o.before, limit: o.limit }));
      for (const e of page.entries) {
        out(o.json === true ? JSON.stringify(e)
          : `${e.id}\t${e.at.toISOString()}\t${e.actorName}${e.actorKeyId === null ? '' : ` (${e.actorKeyId})`}\t${e.role ?? '-'}\t${e.action}\t${JSON.stringify(e.target)}\t${e.outcome}\t${e.sourceIp ?? '-'}`);
      }
      if (page.entries.length === 0 && o.json !== true) out('no audit rows');
      if (page.next !== null && o.json !== true) out(`more: --before ${page.next}`);
    });
  audit.command('verify').description('Check the hash chain; exit 1 naming the first broken row').action(async () => {
    const r = await withStore(deps, 'GET /v1/audit/verify', (s) => s.audit.verify());
    if (r.ok) out(`audit chain intact: ${r.rows} rows`);
    else {
      out(`audit chain BROKEN at row ${r.brokenId} (${r.reason === 'hash' ? 'content does not match its hash' : 'does not link to the row before it'}); ${r.rows} rows before it verify`);
      process.exitCode = 1;
    }
  });
}
