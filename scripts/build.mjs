// Bundles the application's own TypeScript (src/) into dist/ with esbuild, dependencies left as
// imports, so `npm start` and the installed CLI run plain JavaScript: no tsx loader thread, whose
// second V8 isolate and per-module transforms cost ~50 MB of idle memory and a second of start
// (docs/decisions/0009-run-from-a-bundle.md). bin/switchyard.js uses the bundle only while it is
// newer than every file under src/, so an edit is never run stale.
// Usage: node scripts/build.mjs [--outdir DIR]   (default: dist/ next to src/)
import { cpSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const flag = process.argv.indexOf('--outdir');
const outdir = flag > 0 ? resolve(process.argv[flag + 1]) : join(root, 'dist');
// built aside and renamed into place, so a CLI starting meanwhile never loads half a bundle
const building = `${outdir}.${process.pid}.tmp`;

rmSync(building, { recursive: true, force: true });
await build({
  entryPoints: { switchyard: join(root, 'src/cli/main.ts') },
  outdir: building,
  bundle: true,
  splitting: true, // the CLI's dynamic imports stay separate chunks: `--help` never loads the app
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  define: { SWITCHYARD_BUNDLE: 'true' },
  logLevel: 'warning',
});
// the store finds its migrations next to the module that runs them
cpSync(join(root, 'src/store/migrations'), join(building, 'migrations'), { recursive: true });
mkdirSync(dirname(outdir), { recursive: true });
rmSync(outdir, { recursive: true, force: true });
renameSync(building, outdir);
