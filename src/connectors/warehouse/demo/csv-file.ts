/**
 * Writes the demo warehouse as a CSV file (for the CSV adapter's tests and benchmarks), with
 * optional deliberately broken rows spread evenly through it. Streams to disk with backpressure,
 * so a million-row file needs no more memory than a small one.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { SwitchyardError } from '../../../core/errors.ts';
import { DEMO_COLUMNS, demoRow } from './generate.ts';

export type BrokenRowKind = 'column-count' | 'invalid-email' | 'missing-id' | 'bad-utf8';
const KINDS: BrokenRowKind[] = ['column-count', 'invalid-email', 'missing-id', 'bad-utf8'];

export interface DemoCsvOptions {
  size: number;
  seed?: number;
  /** How many of the `size` data rows to break (cycling through the kinds); default 0. */
  brokenRows?: number;
  delimiter?: string;
}

export interface DemoCsvResult {
  /** Data rows written (excluding the header). */
  rows: number;
  /** Line number (header = 1) and kind of each broken row, in file order. */
  broken: { line: number; kind: BrokenRowKind }[];
}

export async function generateDemoCsv(path: string, options: DemoCsvOptions): Promise<DemoCsvResult> {
  const { size, seed = 1, brokenRows = 0, delimiter = ',' } = options;
  if (!Number.isInteger(brokenRows) || brokenRows < 0 || brokenRows > size) {
    throw new SwitchyardError('VALIDATION_FAILED', `brokenRows must be an integer 0…size, got ${brokenRows}`);
  }
  const brokenAt = new Map<number, BrokenRowKind>();
  for (let k = 0; k < brokenRows; k += 1)
    brokenAt.set(Math.floor(((k + 0.5) * size) / brokenRows), KINDS[k % KINDS.length] as BrokenRowKind);
  const out = createWriteStream(path);
  const failed = once(out, 'error').then(([err]) => {
    throw err;
  });
  const write = async (chunk: string | Buffer): Promise<void> => {
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  };
  const broken: DemoCsvResult['broken'] = [];
  await write(`${DEMO_COLUMNS.join(delimiter)}\n`);
  for (let i = 0; i < size; i += 1) {
    const row = demoRow(seed, i);
    const values: string[] = DEMO_COLUMNS.map((c) => row[c]);
    const kind = brokenAt.get(i);
    if (kind !== undefined) broken.push({ line: i + 2, kind });
    if (kind === 'column-count') values.pop();
    if (kind === 'invalid-email') values[1] = (values[1] ?? '').replace('@', ' at ');
    if (kind === 'missing-id') values[0] = '';
    const line = `${values.map((v) => quote(v, delimiter)).join(delimiter)}\n`;
    if (kind === 'bad-utf8') {
      // A Latin-1 "é" (0xE9) where UTF-8 is required: the classic export-from-Excel bug.
      const at = line.indexOf(delimiter, line.indexOf(delimiter) + 1) + 1;
      await write(Buffer.concat([Buffer.from(line.slice(0, at)), Buffer.from([0xe9]), Buffer.from(line.slice(at))]));
    } else {
      await write(line);
    }
  }
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return { rows: size, broken };
}

function quote(value: string, delimiter: string): string {
  return value.includes(delimiter) || /["\r\n]/.test(value) || value !== value.trim()
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}
