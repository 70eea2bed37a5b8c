#!/usr/bin/env node
// Entry point of the `switchyard` command. It runs the bundle scripts/build.mjs makes (`npm start`
// builds it first) while that bundle is newer than every file under src/; otherwise, after an edit
// or in a fresh checkout, it runs the TypeScript itself: the CLI's front through tsx's in-thread
// CommonJS hook, which starts far faster than its ESM loader thread, and src/cli/lazy.ts
// registers the ESM hooks when a command imports the app.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('../', import.meta.url);
const bundle = new URL('dist/switchyard.js', root);

/** True when some file or directory (a deletion changes its directory) under dir is newer than t. */
function newerThan(dir, t) {
  if (statSync(dir).mtimeMs > t) return true;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    if (entry.isDirectory() ? newerThan(path, t) : statSync(path).mtimeMs > t) return true;
  }
  return false;
}

function bundleIsCurrent() {
  if (!existsSync(bundle)) return false;
  const src = new URL('src/', root);
  return !existsSync(src) || !newerThan(src, statSync(bundle).mtimeMs);
}

if (bundleIsCurrent()) {
  const { runCli } = await import(bundle.href);
  runCli(process.argv, process.env);
} else {
  const { register } = await import('tsx/cjs/api');
  register();
  createRequire(import.meta.url)('../src/cli/main.ts').runCli(process.argv, process.env);
}
