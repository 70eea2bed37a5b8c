/**
 * Runs `switchyard start` as a child process on ports chosen by the OS and waits until it has
 * printed both listener URLs and its admin-key line (start has finished). The test's `after`
 * kills what is still running.
 */
import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

export interface ServerProcess {
  publicUrl: string;
  adminUrl: string;
  /** stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `script` runs instead of bin/switchyard.js, with the same arguments (a bundle's runner, say). */
export async function startServerProcess(
  t: TestContext,
  env: NodeJS.ProcessEnv,
  script: string = BIN,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [script, 'start'], {
    env: { PORT: '0', SWITCHYARD_ADMIN_PORT: '0', SWITCHYARD_INBOUND_SMTP_PORT: '0', ...env },
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/Admin API key:|Created admin API key/.test(stdout)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`start exited ${code}: ${stdout}${stderr}`)));
  });
  const publicUrl = /Switchyard public listener on (http:\/\/\S+)/.exec(stdout)?.[1];
  const adminUrl = /Switchyard admin API on (http:\/\/\S+)/.exec(stdout)?.[1];
  if (publicUrl === undefined || adminUrl === undefined) throw new Error(`no listener URLs in: ${stdout}`);
  return {
    publicUrl,
    adminUrl,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}
