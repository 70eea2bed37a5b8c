/**
 * `npm run bench -- <name> [--size N] [--key value]…` runs bench/<name>.ts. Each benchmark exports
 * `run(args)` returning its figures; they are printed as one JSON object on the last line, with
 * `bench` set to the name. Benchmarks compare against a baseline measured in the same run.
 */
import { readdirSync } from 'node:fs';

export interface BenchArgs {
  size?: number;
  options: Record<string, string>;
}
export type BenchFn = (args: BenchArgs) => Promise<Record<string, unknown>>;

const [name, ...rest] = process.argv.slice(2);
const available = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3));
if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [--size N] [--key value]…`);
  process.exit(2);
}
const options = benchOptions(rest);
const mod = (await import(`./${name}.ts`)) as { run: BenchFn };
const size = options.size === undefined ? undefined : Number(options.size);
if (size !== undefined && !(Number.isSafeInteger(size) && size > 0)) {
  console.error(`--size must be a positive integer, not ${JSON.stringify(options.size)}`);
  process.exit(2);
}
const result = await mod.run({ size, options });
console.log(JSON.stringify({ bench: name, ...(size === undefined ? {} : { size }), ...result }));
process.exit(0);

/** `--key value`, `--key=value`, and `--key` alone ('true'); anything else stops with the usage. */
function benchOptions(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (m === null) {
      console.error(`unexpected argument ${JSON.stringify(arg)}: options are --key value or --key=value`);
      process.exit(2);
    }
    const next = args[i + 1];
    if (m[2] !== undefined) out[m[1]!] = m[2];
    else if (next !== undefined && !next.startsWith('--')) {
      out[m[1]!] = next;
      i++;
    } else out[m[1]!] = 'true';
  }
  return out;
}
