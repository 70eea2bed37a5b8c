/**
 * `npm run bench -- <name> [--size N] [--key value]…` runs bench/<name>.ts. Each benchmark exports
 * `run(args)` returning its figures; they are printed as one JSON object on the last line, with
 * `bench` set to the name. Benchmarks compare against a baseline measured in the same run.
 */
import { parseArgs } from 'node:util';
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
  console.error(`usage: npm run bench -- <${available.join('|')}> [--size N]`);
  process.exit(2);
}
const { values } = parseArgs({ args: rest, options: { size: { type: 'string' } }, strict: false });
const options: Record<string, string> = {};
for (const [k, v] of Object.entries(values)) if (typeof v === 'string') options[k] = v;
const mod = (await import(`./${name}.ts`)) as { run: BenchFn };
const size = options.size === undefined ? undefined : Number(options.size);
const result = await mod.run({ size, options });
console.log(JSON.stringify({ bench: name, ...(size === undefined ? {} : { size }), ...result }));
process.exit(0);
