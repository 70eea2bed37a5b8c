/**
 * Regenerates the generated tables in docs/configuration.md and docs/errors.md from the config
 * schema and the error registry (between the GENERATED markers). Run: node --import tsx scripts/gen-docs.ts
 * Tests fail when the tables and the code disagree, so run this after adding a key or a code.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { describeConfig } from '../src/config.ts';
import { ERROR_CODES } from '../src/core/errors.ts';

const BEGIN = '<!-- GENERATED: do not edit between these markers (scripts/gen-docs.ts) -->';
const END = '<!-- END GENERATED -->';

function replaceBlock(path: string, intro: string, table: string): void {
  const current = existsSync(path) ? readFileSync(path, 'utf8') : `${intro}\n\n${BEGIN}\n${END}\n`;
  const start = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  const next = `${current.slice(0, start)}${BEGIN}\n${table}\n${current.slice(end)}`;
  writeFileSync(path, next);
}

const configRows = describeConfig().map(
  (k) =>
    `| \`${k.name}\` | ${k.type} | `
    + `${k.secret ? '(secret, no default)' : k.default === undefined ? '—' : `\`${String(k.default)}\``} | `
    + `${k.description} |`,
);
replaceBlock(
  'docs/configuration.md',
  '# Configuration',
  ['| name | type | default | meaning |', '|---|---|---|---|', ...configRows].join('\n'),
);

const errorRows = Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`);
replaceBlock('docs/errors.md', '# Error codes', ['| code | meaning |', '|---|---|', ...errorRows].join('\n'));
