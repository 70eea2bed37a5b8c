// Runs every test file under test/ on node's runner with the tsx loader.
// Node 20's --test does not expand globs, so the files are listed here.
// The bundle is built first, as `npm start` does: the tests that spawn bin/switchyard.js then run
// what a user runs, and each spawn loads plain JavaScript instead of compiling src/ through tsx.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const built = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test').sort();
const args = ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-reporter=tap', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
