/**
 * `switchyard privacy rotate-key`: master-key rotation. Put the new master key first in
 * SWITCHYARD_PII_MASTER_KEYS (the old one after it), run this, then drop the old key: it rewraps
 * every subject's data key to the first key, in batches, resumable (running it again continues).
 * Data itself is never re-encrypted: only the 60-byte wrapped keys change. Thin: parse, call the
 * privacy service, print. Exit codes: 0 done, 1 keys left under a master key not configured.
 */
import type { Command } from 'commander';
import { isSwitchyardError, toError } from '../../core/errors.ts';
import type { Privacy } from '../../privacy/service.ts';

export interface PrivacyCliIo {
  out(line: string): void;
  err(line: string): void;
  setExitCode(code: number): void;
}

const PROCESS_IO: PrivacyCliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

export interface PrivacyCliApp {
  privacy: Pick<Privacy, 'rewrapAll'>;
  close(): Promise<void>;
}

export function registerPrivacyCommands(
  program: Command,
  openApp: () => Promise<PrivacyCliApp>,
  io: PrivacyCliIo = PROCESS_IO,
): void {
  const cmd = program.command('privacy').description('PII at rest: master-key rotation (docs/privacy.md)');
  cmd
    .command('rotate-key')
    .description(
      'Rewrap every PII data key with the first key of SWITCHYARD_PII_MASTER_KEYS (keep the old key listed until done)',
    )
    .option('--batch <n>', 'data keys per batch', '1000')
    .action(async (opts: { batch: string }) => {
      const batch = Number(opts.batch);
      if (!Number.isInteger(batch) || batch < 1 || batch > 100_000) {
        io.err('--batch must be an integer from 1 to 100000');
        io.setExitCode(2);
        return;
      }
      const app = await openApp();
      try {
        const r = await app.privacy.rewrapAll(batch);
        io.out(`rewrapped ${r.rewrapped} data key(s)`);
        for (const [id, n] of Object.entries(r.byMasterKey)) io.out(`  ${id.padEnd(18)} ${n}`);
        if (r.unheld > 0) {
          io.err(`${r.unheld} data key(s) are wrapped by a master key that is not configured: add it and run again`);
          io.setExitCode(1);
        }
      } catch (err) {
        const e = toError(err);
        io.err(isSwitchyardError(e) ? `${e.code}: ${e.message}` : e.message);
        io.setExitCode(1);
      } finally {
        await app.close();
      }
    });
}
