/**
 * What a user waits for at the command line: `switchyard --help` (median of several spawns), a
 * `campaign status` against a running server, `switchyard start` from process start to a /healthz
 * answer on a fresh data dir with the demo workspace, and the server's RSS once it has been idle a
 * few seconds, all from the bundle `npm start` builds first. Options: --runs N (spawns per median,
 * default 7), --idle S (seconds, default 5).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchArgs } from './run.ts';
import { freePort } from '../test/support/free-port.ts';

const BIN = new URL('../bin/switchyard.js', import.meta.url).pathname;
const BUILD = new URL('../scripts/build.mjs', import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] ?? 0);
}

function startScriptNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  };
  return pkg.scripts.start.split(/\s+/).filter((w) => w.startsWith('--'));
}

/** Wall time of one CLI run, from spawn to exit. */
function timeCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null; out: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('close', (code) => resolve({ ms: performance.now() - t0, code, out }));
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

export async function run(args: BenchArgs): Promise<Record<string, unknown>> {
  const runs = Number(args.options.runs ?? 7);
  const idleSeconds = Number(args.options.idle ?? 5);
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-bench-cli-'));
  const [port, adminPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: 'warn',
    SWITCHYARD_DATA_DIR: dataDir,
    PORT: String(port),
    SWITCHYARD_ADMIN_PORT: String(adminPort),
    SWITCHYARD_INBOUND_SMTP_PORT: '0',
  };
  delete env.DATABASE_URL;

  // as `npm start` does (its prestart script), so the CLI and the server run from the bundle
  execFileSync(process.execPath, [BUILD]);

  const help: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await timeCli(['--help'], env);
    if (r.code !== 0) throw new Error(`--help exited ${r.code}: ${r.out}`);
    help.push(r.ms);
  }

  // as `npm start` runs it: the node flags of package.json's start script
  const t0 = performance.now();
  const server = spawn(process.execPath, [...startScriptNodeFlags(), BIN, 'start'], { env, stdio: 'ignore' });
  try {
    let startMs = 0;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`start exited ${server.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) {
        startMs = performance.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleRss = rssMb(server.pid ?? 0);

    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const demo = await timeCli(['campaign', 'demo', '--size', '50', '--no-watch', '--url', adminUrl], env);
    const id = /started (\S+)/.exec(demo.out)?.[1];
    if (id === undefined) throw new Error(`campaign demo: ${demo.out}`);
    const status: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await timeCli(['campaign', 'status', id, '--url', adminUrl], env);
      if (r.code !== 0) throw new Error(`campaign status exited ${r.code}: ${r.out}`);
      status.push(r.ms);
    }
    return {
      help_ms: median(help),
      status_ms: median(status),
      start_ms: Math.round(startMs),
      idle_rss_mb: idleRss,
      runs,
      help_all_ms: help.map(Math.round),
      status_all_ms: status.map(Math.round),
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}
