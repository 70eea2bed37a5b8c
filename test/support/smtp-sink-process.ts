/**
 * The SMTP sink (smtp-sink.ts) in a child process, for benchmarks: a real MTA does not parse
 * DATA inside the sender's event loop, so a comparison of SMTP senders must not make them share
 * one. The child keeps no message bytes, only the count; the parent asks for it over IPC.
 * Run directly (`node --import tsx smtp-sink-process.ts`) it is the child; imported, it exports
 * `startSmtpSinkProcess`, which spawns that child and resolves once it listens.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startSmtpSink } from './smtp-sink.ts';

export interface SmtpSinkProcess {
  port: number;
  host: string;
  /** Messages the child's sink accepted so far. */
  count(): Promise<number>;
  close(): Promise<void>;
}

type ToChild = { kind: 'count'; id: number } | { kind: 'close' };
type FromChild = { kind: 'listening'; port: number } | { kind: 'count'; id: number; n: number };

const SELF = fileURLToPath(import.meta.url);

export async function startSmtpSinkProcess(): Promise<SmtpSinkProcess> {
  const child: ChildProcess = fork(SELF, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: FromChild) => {
      if (m.kind === 'listening') resolve(m.port);
    });
    void exited.then((code) => reject(new Error(`SMTP sink child exited (${code}) before it listened`)));
  });
  let nextId = 0;
  const asked = new Map<number, (n: number) => void>();
  child.on('message', (m: FromChild) => {
    if (m.kind !== 'count') return;
    asked.get(m.id)?.(m.n);
    asked.delete(m.id);
  });
  return {
    port,
    host: '127.0.0.1',
    count: () =>
      new Promise<number>((resolve, reject) => {
        const id = nextId++;
        asked.set(id, resolve);
        child.send({ kind: 'count', id } satisfies ToChild, (err) => {
          if (err !== null) reject(err);
        });
      }),
    async close() {
      if (child.exitCode === null && child.connected) child.send({ kind: 'close' } satisfies ToChild);
      await exited;
    },
  };
}

if (process.argv[1] === SELF && process.send !== undefined) {
  const sink = await startSmtpSink({ keepMessages: false });
  process.on('message', (m: ToChild) => {
    if (m.kind === 'count') process.send!({ kind: 'count', id: m.id, n: sink.count() } satisfies FromChild);
    else void sink.close().then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ kind: 'listening', port: sink.port } satisfies FromChild);
}
