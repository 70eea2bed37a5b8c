/**
 * Self-scoring run of the bounce corpus (test/fixtures/bounces, written by its generate.mjs): every
 * file goes through the same path as `switchyard bounce classify`, and each expected recipient is
 * scored on kind and reason. Fails below 98 % kind / 90 % reason; prints the scores (and, with
 * BOUNCE_CORPUS_MISSES=1, every miss).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { classifyBounceFiles } from '../../../src/cli/commands/inbound.ts';

interface Expected {
  recipient: string;
  kind: string;
  reason: string | null;
}
interface Line {
  file: string;
  recipient: string;
  kind: string;
  reason: string | null;
}

const ROOT = fileURLToPath(new URL('../../fixtures/bounces/', import.meta.url));
const index = JSON.parse(readFileSync(`${ROOT}expectations.json`, 'utf8')) as Record<
  string,
  { format: string; note: string; recipients: Expected[] }
>;

/** A human reply is the CLI's `reply` kind; for scoring it is a non-bounce. */
const scoredKind = (kind: string): string => (kind === 'reply' ? 'not_bounce' : kind);

describe('bounce corpus (switchyard bounce classify path)', () => {
  it('scores at least 98 % on kind and 90 % on reason per recipient', async () => {
    const files = Object.keys(index);
    assert.ok(files.length >= 300, `corpus has ${files.length} files`);
    const { lines } = await classifyBounceFiles(files.map((f) => ROOT + f));
    const byFile = new Map<string, Line[]>();
    for (const l of lines.map((x) => JSON.parse(x) as Line)) {
      const rel = l.file.slice(ROOT.length);
      byFile.set(rel, [...(byFile.get(rel) ?? []), l]);
    }
    let recipients = 0;
    let kindOk = 0;
    let reasonTotal = 0;
    let reasonOk = 0;
    let countOk = 0;
    const misses: string[] = [];
    for (const [file, { recipients: expected }] of Object.entries(index)) {
      const got = byFile.get(file) ?? [];
      if (got.length === expected.length) countOk += 1;
      else misses.push(`${file}: ${got.length} lines, expected ${expected.length}`);
      expected.forEach((e, i) => {
        const line =
          e.recipient === '' ? got[i] : got.find((g) => g.recipient.toLowerCase() === e.recipient.toLowerCase());
        recipients += 1;
        const k = line !== undefined && scoredKind(line.kind) === e.kind;
        if (k) kindOk += 1;
        if (e.reason !== null) {
          reasonTotal += 1;
          if (line?.reason === e.reason) reasonOk += 1;
        }
        if (!k || (e.reason !== null && line?.reason !== e.reason)) {
          const got = line === undefined ? 'no line' : `${line.kind}/${line.reason}`;
          misses.push(`${file} ${e.recipient}: expected ${e.kind}/${e.reason}, got ${got}`);
        }
      });
    }
    const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(1)} %`;
    console.log(
      `bounce corpus: ${files.length} files, ${recipients} recipients; kind ${pct(kindOk, recipients)} `
        + `(${kindOk}/${recipients}), reason ${pct(reasonOk, reasonTotal)} (${reasonOk}/${reasonTotal}), `
        + `recipient count per file ${pct(countOk, files.length)} (${countOk}/${files.length})`,
    );
    if (process.env.BOUNCE_CORPUS_MISSES === '1') for (const m of misses) console.log(`  miss: ${m}`);
    assert.ok(kindOk / recipients >= 0.98, `kind ${pct(kindOk, recipients)} < 98 %`);
    assert.ok(reasonOk / reasonTotal >= 0.9, `reason ${pct(reasonOk, reasonTotal)} < 90 %`);
  });
});
