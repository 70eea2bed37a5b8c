/** Reading the JSON files commands take, with errors a user can act on instead of ENOENT or SyntaxError. */
import { readFileSync } from 'node:fs';
import { CliError, EXIT, lineColumn } from './errors.ts';

const WHY: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new CliError(
      `cannot read ${what} ${path}: ${WHY[code] ?? code ?? 'unreadable'}; check the path`,
      EXIT.usage,
      {
        cause: err,
      },
    );
  }
}

/** Parses `path` as JSON; a syntax error names the file and the line and column. */
export function readJsonFile(path: string, what: string): unknown {
  const text = readTextFile(path, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    const where =
      at === null ? (text.trim() === '' ? 'the file is empty' : 'end of file') : lineColumn(text, Number(at[1]));
    const why = message
      .replace(/\s*in JSON at position \d+.*$/, '')
      .replace(/^Unexpected end of JSON input$/, 'unexpected end');
    throw new CliError(`${path} is not valid JSON (${where}): ${why}; fix the ${what} and retry`, EXIT.usage, {
      cause: err,
    });
  }
}
