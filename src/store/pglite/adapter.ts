/**
 * Store adapter on embedded PGlite (WASM PostgreSQL), the default. One connection per process:
 * PGlite serialises queries itself, and a transaction holds the connection until it ends, so
 * callers keep transactions short. A failed transaction is always rolled back (PGlite's
 * transaction() does so), because an aborted one would poison every later query.
 */
import { PGlite, types } from '@electric-sql/pglite';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SwitchyardError } from '../../core/errors.ts';
import type { Db, Queryable, QueryResult } from '../port.ts';

const PARSERS = { [types.INT8]: (v: string) => Number(v) };

/**
 * PostgreSQL's default 128 MB of shared buffers live in PGlite's WASM memory and is touched at
 * start, so it is resident even when idle; one embedded connection over a local workspace needs far
 * less (docs/decisions/0008-start-time-and-idle-memory.md).
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

const PGLITE_ENTRY = import.meta.resolve('@electric-sql/pglite');

/** Runs in a child process: initdb in the directory given, then exit (its WASM memory goes with it). */
const INITDB_SCRIPT =
  'const { PGlite } = await import(process.argv[1]); const pg = await PGlite.create(process.argv[2]); '
  + 'await pg.close();';

/**
 * A new data directory starts as a copy of a pristine cluster kept in the user's cache, made once
 * per PGlite version: initdb takes several seconds and, in process, leaves hundreds of MB of WASM
 * memory behind until a full GC. Returns false (the caller then lets PGlite run initdb itself)
 * when no cache can be used.
 */
async function seedFromPristine(dataDir: string): Promise<boolean> {
  try {
    const version = (JSON.parse(readFileSync(new URL('../package.json', PGLITE_ENTRY), 'utf8')) as { version: string })
      .version;
    const cache = join(homedir(), '.cache', 'switchyard');
    mkdirSync(cache, { recursive: true, mode: 0o700 });
    // someone else's directory could hold a cluster they prepared
    if (statSync(cache).uid !== process.getuid?.()) return false;
    chmodSync(cache, 0o700);
    const pristine = join(cache, `pglite-${version}`);
    if (!existsSync(join(pristine, 'PG_VERSION'))) {
      // built aside and renamed into place, so a concurrent start never copies half a cluster
      const building = `${pristine}.${process.pid}.tmp`;
      rmSync(building, { recursive: true, force: true });
      await promisify(execFile)(process.execPath, ['--input-type=module', '-e', INITDB_SCRIPT, PGLITE_ENTRY, building]);
      try {
        renameSync(building, pristine);
      } catch {
        rmSync(building, { recursive: true, force: true }); // another process got there first
      }
    }
    // PG_VERSION last: a copy cut short is not taken for a cluster, and is removed
    const entries = readdirSync(pristine).sort((a, b) => Number(a === 'PG_VERSION') - Number(b === 'PG_VERSION'));
    try {
      for (const entry of entries) cpSync(join(pristine, entry), join(dataDir, entry), { recursive: true });
    } catch (err) {
      for (const entry of entries) rmSync(join(dataDir, entry), { recursive: true, force: true });
      throw err;
    }
    return true;
  } catch {
    return false;
  }
}

export interface PgliteOptions {
  /** A directory for durable data, or undefined for an in-memory database (tests). */
  dataDir?: string;
}

/**
 * PGlite's files must have one owner: a second process opening the same directory (a CLI
 * command next to a running server) would corrupt it. A lock file with the owner's pid says who
 * has it; a lock left by a dead process is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'switchyard.lock');
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new SwitchyardError(
          'STORE_UNREACHABLE',
          `the embedded database in ${dataDir} is in use by process ${owner} (is \`npm start\` running?); `
            + `use the HTTP API or stop it first`,
        );
      }
      unlinkSync(path); // stale: its owner died
    }
  }
  throw new SwitchyardError('STORE_UNREACHABLE', `cannot lock ${path}`);
}

/**
 * PGlite's WASM file system creates every file 0666 whatever the umask, so the data directory is
 * kept 0700 (nobody else can even reach the files) and the tree is narrowed to 0600/0700 on open
 * and on close, so a copied or backed-up directory carries no world-writable files.
 */
function restrictTree(dir: string): void {
  chmodSync(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) restrictTree(path);
    else if (entry.isFile() && (lstatSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function createPgliteDb(options: PgliteOptions = {}): Promise<Db> {
  let pg: PGlite;
  let unlock = (): void => undefined;
  const dataDir = options.dataDir;
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    const lock = lockDataDir(dataDir);
    unlock = () => {
      restrictTree(dataDir);
      lock();
    };
  }
  try {
    if (dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'))) await seedFromPristine(dataDir);
    pg = await PGlite.create(options.dataDir ?? 'memory://', { parsers: PARSERS, startParams: START_PARAMS });
  } catch (cause) {
    unlock();
    throw new SwitchyardError(
      'STORE_UNREACHABLE',
      `cannot open PGlite data directory ${options.dataDir ?? '(memory)'}: ${String(cause)}`,
      { cause },
    );
  }
  if (dataDir !== undefined) restrictTree(dataDir);
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await q.query<R>(sql, params as unknown[]);
      return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const self = wrap(pg);
  return {
    kind: 'pglite',
    ...self,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onNotify) {
      const unsubscribe = await pg.listen(channel, onNotify);
      return async () => {
        await unsubscribe();
      };
    },
    async ping() {
      if (pg.closed) throw new SwitchyardError('STORE_UNREACHABLE', 'PGlite is closed');
      await pg.query('select 1');
    },
    async close() {
      if (!pg.closed) await pg.close();
      unlock();
    },
  };
}
