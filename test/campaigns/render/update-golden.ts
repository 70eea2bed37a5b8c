// Rewrites the golden files after an intended change: `node --import tsx test/campaigns/render/update-golden.ts`.
// Review the diff before committing; the golden test exists to catch unintended changes.
import { writeFileSync } from 'node:fs';
import { compileTemplate } from '../../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../../src/campaigns/render/render-message.ts';
import { aContext, fixture } from './builders.ts';

const compiled = await compileTemplate({
  subject: 'News for {{ contact.firstName }}',
  html: fixture('newsletter.mjml'),
});
const msg = renderMessage(compiled, aContext());
const dir = new URL('../../fixtures/templates/', import.meta.url);
writeFileSync(new URL('newsletter.golden.html', dir), msg.html ?? '');
writeFileSync(new URL('newsletter.golden.txt', dir), msg.text);
const { html: _h, text: _t, ...rest } = msg;
writeFileSync(new URL('newsletter.golden.json', dir), `${JSON.stringify(rest, null, 2)}\n`);
console.log('golden files written');
