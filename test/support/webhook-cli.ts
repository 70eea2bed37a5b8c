/** A tiny CLI entry with only the webhook commands, so tests spawn them without src/cli/main.ts. */
import { Command } from 'commander';
import { registerWebhookCommands } from '../../src/cli/commands/webhooks.ts';
import { createWebhookVerifiers } from '../../src/composition/webhook-verifiers.ts';

const program = new Command('switchyard-test');
registerWebhookCommands(program, createWebhookVerifiers);
await program.parseAsync(process.argv);
