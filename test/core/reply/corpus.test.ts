/**
 * Scores reply trimming on the corpus in test/fixtures/replies/: every NAME.eml goes through the
 * same function `switchyard reply trim` prints (trimReplyInput), and the printed text is compared
 * with NAME.expected.txt. Fails below 90 % exact or above 2 % over-trimmed (part of the expected
 * reply missing from the output).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { trimReplyInput } from '../../../src/reactions/inbound/summarize.ts';

const DIR = fileURLToPath(new URL('../../fixtures/replies/', import.meta.url));
const MIN_EXACT = 0.9;
const MAX_OVER_TRIMMED = 0.02;

describe('reply corpus', () => {
  it('prints exactly the expected reply for >= 90 % of the corpus and over-trims <= 2 %', async () => {
    const names = readdirSync(DIR)
      .filter((f) => f.endsWith('.eml'))
      .map((f) => f.slice(0, -'.eml'.length))
      .sort();
    assert.ok(names.length >= 150, `corpus has ${names.length} emails, expected at least 150`);
    let exact = 0;
    const overTrimmed: string[] = [];
    const inexact: string[] = [];
    for (const name of names) {
      const expected = readFileSync(`${DIR}${name}.expected.txt`, 'utf8');
      // The CLI prints the trimmed text and a newline; the expected files hold that output.
      const printed = `${await trimReplyInput(readFileSync(`${DIR}${name}.eml`))}\n`;
      if (printed === expected) exact += 1;
      else inexact.push(name);
      if (!printed.includes(expected.trim())) overTrimmed.push(name);
    }
    const exactRate = exact / names.length;
    const overRate = overTrimmed.length / names.length;
    console.log(
      `reply corpus: ${names.length} emails, exact ${(exactRate * 100).toFixed(1)} % (${exact}), `
        + `over-trimmed ${(overRate * 100).toFixed(1)} % (${overTrimmed.length})`,
    );
    if (inexact.length > 0) console.log(`  not exact: ${inexact.join(', ')}`);
    if (overTrimmed.length > 0) console.log(`  over-trimmed: ${overTrimmed.join(', ')}`);
    assert.ok(exactRate >= MIN_EXACT, `exact ${(exactRate * 100).toFixed(1)} % < 90 %`);
    assert.ok(overRate <= MAX_OVER_TRIMMED, `over-trimmed ${(overRate * 100).toFixed(1)} % > 2 %`);
  });
});
