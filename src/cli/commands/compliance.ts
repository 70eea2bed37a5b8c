/**
 * `switchyard consent verify|export` and `switchyard dsr submit|list|show|exceptions|resolve`:
 * the consent ledger's proof and one subject's history, and data-subject requests from the
 * command line (intake channel `cli`) with the exceptions queue, on the store like dead-letters.
 */
import type { Command } from 'commander';
import type { ConsentLedger } from '../../compliance/consent/ledger.ts';
import type { DsrService } from '../../compliance/dsr/service.ts';
import { DSR_TYPES, type DsrType, JURISDICTIONS, type Jurisdiction } from '../../core/dsr/deadlines.ts';

export interface ComplianceApp {
  compliance: { consent: ConsentLedger; dsr: DsrService };
  close(): Promise<void>;
}

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

async function withApp(open: () => Promise<ComplianceApp>, fn: (app: ComplianceApp) => Promise<void>) {
  const app = await open();
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

export function registerComplianceCommands(program: Command, openApp: () => Promise<ComplianceApp>): void {
  const consent = program.command('consent').description('The consent ledger');
  consent
    .command('verify')
    .description('Prove the hash chain and checkpoints; names the first broken record (exit 1)')
    .action(() =>
      withApp(openApp, async (app) => {
        const r = await app.compliance.consent.verify();
        if (r.ok)
          out(`consent ledger intact: ${r.rows} records, ${r.checkpoints} checkpoints, last hash ${r.lastHash}`);
        else {
          out(`consent ledger BROKEN at record ${r.brokenId} (${r.reason}); ${r.rows} records before it verified`);
          process.exitCode = 1;
        }
      }),
    );
  consent
    .command('export')
    .description("One subject's consent history and current subscriptions, as JSON")
    .argument('<email>')
    .action((email: string) =>
      withApp(openApp, async (app) => out(JSON.stringify(await app.compliance.consent.history(email), null, 2))),
    );

  const dsr = program.command('dsr').description('Data-subject requests and the exceptions queue');
  dsr
    .command('submit')
    .description('Submit a request (identity check mailed unless --verified)')
    .requiredOption('--type <type>', DSR_TYPES.join(' | '))
    .requiredOption('--email <email>', "the subject's address")
    .option('--jurisdiction <j>', JURISDICTIONS.join(' | '), 'unknown')
    .option('--name <name>', "the subject's name, if given")
    .option('--id <id>', "the requester's own request id")
    .option('--verified', 'the identity was already verified')
    .action(
      (o: { type: string; email: string; jurisdiction: string; name?: string; id?: string; verified?: boolean }) =>
        withApp(openApp, async (app) => {
          if (
            !(DSR_TYPES as readonly string[]).includes(o.type)
            || !(JURISDICTIONS as readonly string[]).includes(o.jurisdiction)
          ) {
            process.stderr.write(
              `--type must be one of ${DSR_TYPES.join(', ')}; --jurisdiction one of ${JURISDICTIONS.join(', ')}\n`,
            );
            process.exitCode = 2;
            return;
          }
          const r = await app.compliance.dsr.submit({
            type: o.type as DsrType,
            jurisdiction: o.jurisdiction as Jurisdiction,
            identities: [
              { type: 'email', value: o.email },
              ...(o.name ? [{ type: 'name' as const, value: o.name }] : []),
            ],
            channel: 'cli',
            ...(o.id ? { externalId: o.id } : {}),
            ...(o.verified ? { identityVerified: true } : {}),
          });
          out(JSON.stringify({ ...r.receipt.body, receipt_signature: r.receipt.signature }, null, 2));
        }),
    );
  dsr
    .command('list')
    .option('--status <status>')
    .option('--limit <n>', 'how many', (v) => Number(v), 100)
    .action((o: { status?: string; limit: number }) =>
      withApp(openApp, async (app) => {
        for (const r of await app.compliance.dsr.list({ ...(o.status ? { status: o.status } : {}), limit: o.limit }))
          out(`${r.id}\t${r.type}\t${r.status}\t${r.result ?? '-'}\tdue ${r.dueAt.toISOString()}`);
      }),
    );
  dsr
    .command('show')
    .argument('<id>')
    .action((id: string) =>
      withApp(openApp, async (app) => out(JSON.stringify(await app.compliance.dsr.get(id), null, 2))),
    );
  dsr
    .command('exceptions')
    .description('The exceptions queue, earliest deadline first')
    .option('--all', 'include resolved ones')
    .action((o: { all?: boolean }) =>
      withApp(openApp, async (app) => {
        const rows = await app.compliance.dsr.exceptions(!o.all);
        for (const e of rows)
          out(`${e.id}\t${e.requestId}\t${e.system || '-'}\t${e.kind}\tdue ${e.dueAt.toISOString()}\t${e.reason}`);
        if (rows.length === 0) out('no open exceptions');
      }),
    );
  dsr
    .command('resolve')
    .argument('<exceptionId>')
    .requiredOption('--action <action>', 'retry | accept')
    .requiredOption('--by <who>')
    .option('--note <note>')
    .action((id: string, o: { action: string; by: string; note?: string }) =>
      withApp(openApp, async (app) => {
        if (o.action !== 'retry' && o.action !== 'accept') {
          process.stderr.write('--action must be retry or accept\n');
          process.exitCode = 2;
          return;
        }
        await app.compliance.dsr.resolveException(Number(id), o.by, o.action, o.note);
        out(`exception ${id} resolved (${o.action})`);
      }),
    );
}
