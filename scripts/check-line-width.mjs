#!/usr/bin/env node
// Fails when a tracked source line is wider than 120 characters. Biome wraps code to 120 columns
// but never breaks a string, template or regex, so those lines need this separate check.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 120;

/**
 * Lines that cannot be split, as { file, pattern, reason }: a line of `file` matching `pattern`
 * may be wider. Keep it empty where possible; every entry says why.
 */
const ALLOWED = [];

const files = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.mjs', '*.js'], { encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '' && !f.startsWith('test/fixtures/'));

const wide = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // deleted in the work tree but still in the index
    if (err.code === 'ENOENT') continue;
    throw err;
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    // characters, not UTF-16 units or bytes: an emoji or é is one column
    const width = [...line].length;
    if (width <= MAX) continue;
    if (ALLOWED.some((a) => a.file === file && a.pattern.test(line))) continue;
    wide.push(`${file}:${i + 1}: ${width} characters`);
  }
}

if (wide.length > 0) {
  process.stderr.write(
    `${wide.length} line(s) wider than ${MAX} characters (split strings into concatenations, SQL across lines):\n`
      + `${wide.join('\n')}\n`,
  );
  process.exit(1);
}
