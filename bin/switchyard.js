#!/usr/bin/env node
// Entry point of the `switchyard` command. The CLI's front (argument parsing, help, the commands
// that only call the admin API) is required through tsx's in-thread CommonJS hook, which starts
// far faster than its ESM loader thread; src/cli/lazy.ts registers the ESM hooks when a command
// imports the app.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
createRequire(import.meta.url)('../src/cli/main.ts').runCli(process.argv, process.env);
