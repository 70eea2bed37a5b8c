/**
 * Which files a CSV audience may name: only regular files whose real path (after every symlink)
 * lies inside one of the operator's configured directories. An audience path comes from an API
 * caller, so without this any file the process can read (procfs environ, password files, the
 * data directory's secrets) could be streamed and echoed back. The check runs when a campaign is
 * created or validated and again on the open descriptor when the file is read, because the file
 * can be swapped in between. Refusals name the allowed directories and the path as given, never
 * anything read from a file, and the same message is used for "outside" whether or not the file
 * exists, so the check is no oracle for files elsewhere.
 */
import { constants, realpathSync, type Stats } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SwitchyardError } from '../../../core/errors.ts';

/** Kernel-generated trees: their files claim to be regular but expose process and device state. */
const SYSTEM_TREES = ['/proc', '/sys', '/dev'];

/** The operator's directories; their real paths are resolved at every check (they may be symlinks). */
export interface CsvDirectories {
  /** Absolute directories as configured; a relative audience path is resolved against the first. */
  readonly dirs: readonly string[];
}

/** True when `child` is `parent` or lies beneath it (path.relative, never a string prefix). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

function notAllowed(path: string, allowed: CsvDirectories, why: string): SwitchyardError {
  return new SwitchyardError(
    'AUDIENCE_PATH_NOT_ALLOWED',
    `CSV audience path ${JSON.stringify(path)} is not allowed: ${why}; CSV audiences must be regular files `
      + `inside ${allowed.dirs.join(', ')} (SWITCHYARD_CSV_DIRS)`,
    { details: { path, allowedDirs: [...allowed.dirs] } },
  );
}

function inSystemTree(real: string): boolean {
  return SYSTEM_TREES.some((tree) => isInside(tree, real));
}

/** Resolves the real path of every allowed directory that exists (a missing one allows nothing). */
async function realDirs(allowed: CsvDirectories): Promise<string[]> {
  const out: string[] = [];
  for (const dir of allowed.dirs) {
    try {
      out.push(await realpath(dir));
    } catch {
      /* not created yet: nothing can be inside it */
    }
  }
  return out;
}

/**
 * Checks an audience path and returns its real path. Throws AUDIENCE_PATH_NOT_ALLOWED for a path
 * outside the directories (lexically or after symlinks), in a system tree, or not a regular file;
 * WAREHOUSE_UNREACHABLE (not retryable) when an allowed path does not exist.
 */
export async function checkCsvPath(path: string, allowed: CsvDirectories): Promise<string> {
  return (await resolveAllowed(path, allowed, false)) as string;
}

/** As checkCsvPath, but a file that does not exist yet passes (a campaign may precede its upload). */
export async function admitCsvPath(path: string, allowed: CsvDirectories): Promise<void> {
  await resolveAllowed(path, allowed, true);
}

async function resolveAllowed(path: string, allowed: CsvDirectories, allowMissing: boolean): Promise<string | null> {
  if (path === '' || path.includes('\0')) throw notAllowed(path, allowed, 'it is empty or contains a NUL byte');
  const first = allowed.dirs[0];
  if (first === undefined) throw notAllowed(path, allowed, 'no CSV directory is configured');
  const given = isAbsolute(path) ? resolve(path) : resolve(first, path);
  const dirs = await realDirs(allowed);
  // Nothing outside the directories is even looked at, so refusals say nothing about what exists there.
  if (!allowed.dirs.some((d) => isInside(d, given)) && !dirs.some((d) => isInside(d, given)))
    throw notAllowed(path, allowed, 'it is outside the allowed directories');
  let real: string;
  let st: Stats;
  try {
    real = await realpath(given);
    st = await stat(real);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT' && allowMissing) return null;
    throw new SwitchyardError('WAREHOUSE_UNREACHABLE', `cannot read CSV file ${path}: ${code}`, {
      retryable: false,
      details: { path, errno: code },
    });
  }
  if (inSystemTree(real) || !dirs.some((d) => isInside(d, real)))
    throw notAllowed(path, allowed, 'after resolving symlinks it is outside the allowed directories');
  if (!st.isFile()) throw notAllowed(path, allowed, `it is ${kindOf(st)}, not a regular file`);
  return real;
}

/**
 * Opens an audience file for reading after checking it, then checks the descriptor itself: it
 * must be a regular file and the very file (device and inode) that the path resolves to now,
 * inside the directories. That closes the gap between the check and the open (a path component
 * swapped for a symlink, a file swapped for a FIFO). O_NONBLOCK keeps a FIFO from hanging the
 * open; O_NOFOLLOW refuses a last component that became a symlink after the check.
 */
export async function openCsvFile(path: string, allowed: CsvDirectories): Promise<FileHandle> {
  const real = await checkCsvPath(path, allowed);
  let handle: FileHandle;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ELOOP') throw notAllowed(path, allowed, 'it became a symlink while being opened');
    throw new SwitchyardError('WAREHOUSE_UNREACHABLE', `cannot read CSV file ${path}: ${code}`, {
      retryable: !['ENOENT', 'EACCES', 'EPERM', 'EISDIR'].includes(code),
      details: { path, errno: code },
    });
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw notAllowed(path, allowed, `it is ${kindOf(opened)}, not a regular file`);
    const again = await checkCsvPath(path, allowed);
    const now = await stat(again);
    if (again !== real || now.dev !== opened.dev || now.ino !== opened.ino)
      throw notAllowed(path, allowed, 'it changed while being opened');
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Resolves configured CSV directories against the data directory and refuses ones that would
 * expose Switchyard's own files or the system: the root, procfs/sysfs/devfs, any directory that
 * holds the data directory, and any part of the data directory other than `audiences/`. Called
 * once at start (synchronous, like the rest of app wiring); throws CONFIG_INVALID naming each.
 */
export function resolveCsvDirs(configured: readonly string[], dataDir: string): CsvDirectories {
  const data = resolve(dataDir);
  const realData = realOrSelf(data);
  const dirs = configured.map((d) => (isAbsolute(d) ? resolve(d) : resolve(data, d)));
  const problems: string[] = [];
  for (const dir of dirs) {
    for (const [candidate, dataRoot] of [
      [dir, data],
      [realOrSelf(dir), realData],
    ] as const) {
      const audiences = join(dataRoot, 'audiences');
      if (candidate === sep || inSystemTree(candidate))
        problems.push(`${dir}: the root and system trees (/proc, /sys, /dev) cannot hold audiences`);
      else if (isInside(candidate, dataRoot))
        problems.push(`${dir}: contains the data directory ${dataDir} (its secrets and database)`);
      else if (isInside(dataRoot, candidate) && !isInside(audiences, candidate))
        problems.push(`${dir}: inside the data directory; only ${audiences} and below may hold audiences`);
    }
  }
  if (problems.length > 0)
    throw new SwitchyardError('CONFIG_INVALID', `SWITCHYARD_CSV_DIRS: ${[...new Set(problems)].join('; ')}`, {
      details: { problems: [...new Set(problems)] },
    });
  return { dirs };
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
