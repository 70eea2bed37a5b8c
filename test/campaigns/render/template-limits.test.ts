/**
 * Template resource limits: a template (or contact data) that would tie up a worker or a preview
 * fails fast with TEMPLATE_LIMIT_EXCEEDED, a 4xx, on the Liquid path and the fast path alike,
 * with one time budget per message. Time is a stepping fake here, never the machine's speed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, validateTemplate } from '../../../src/campaigns/render/compile.ts';
import type { CompileOptions } from '../../../src/campaigns/render/compile.ts';
import { renderMessage } from '../../../src/campaigns/render/render-message.ts';
import { httpStatusFor } from '../../../src/api/http-status.ts';
import { isSwitchyardError } from '../../../src/core/errors.ts';
import { aContext } from './builders.ts';

const FOOTER = ' {{ unsubscribe_url }} {{ postal_address }}';

/** A clock for the render budget that moves 1 ms each time it is read. */
function steppingNow(): () => number {
  let t = 0;
  return () => ++t;
}

function renderError(
  compiled: Awaited<ReturnType<typeof compileTemplate>>,
  contact: Record<string, unknown> = {},
): unknown {
  const ctx = aContext();
  try {
    renderMessage(compiled, { ...ctx, contact: { ...ctx.contact, ...contact } });
    return null;
  } catch (err) {
    return err;
  }
}

function assertLimit(err: unknown): void {
  assert.ok(isSwitchyardError(err), String(err));
  assert.equal(err.code, 'TEMPLATE_LIMIT_EXCEEDED', err.message);
  const status = httpStatusFor(err.code);
  assert.ok(status >= 400 && status < 500, `status ${status}`);
}

describe('template limits', () => {
  it('the 2 000 000-step loop of the report trips the memory limit at once (no wall-clock wait)', async () => {
    const options: CompileOptions = { limits: { renderMs: 60_000, memory: 1_000_000 } };
    const compiled = await compileTemplate(
      { subject: 's', html: `<body>{% for i in (1..2000000) %}x{% endfor %}${FOOTER}</body>` },
      options,
    );
    assertLimit(renderError(compiled));
    const validation = await validateTemplate(
      { subject: 's', html: `<body>{% for i in (1..2000000) %}x{% endfor %}${FOOTER}</body>` },
      options,
    );
    assert.equal(validation.ok, false);
    assert.match(validation.errors.join('\n'), /html: exceeds the template limits/);
  });

  it("a loop over contact data on the fast path stops when the message's time budget is spent", async () => {
    const compiled = await compileTemplate(
      { subject: 's', html: `<body>{% for l in contact.links %}<i>{{ l }}</i>{% endfor %}${FOOTER}</body>` },
      { limits: { renderMs: 50, memory: 10_000_000, now: steppingNow() } },
    );
    assert.ok(compiled.plans.html !== null, 'rendered by fast-render.ts');
    assertLimit(renderError(compiled, { links: Array.from({ length: 1000 }, (_, i) => `l${i}`) }));
    assert.equal(renderError(compiled, { links: ['a', 'b'] }), null, 'a normal recipient renders');
  });

  it('liquidjs pieces share the message budget instead of each getting a fresh one', async () => {
    // Alternating planned lookups and unplanned tags: every liquidjs piece is its own render call.
    const html = `<body>${'{{ contact.firstName }}{% if true %}.{% endif %}'.repeat(200)}${FOOTER}</body>`;
    const compiled = await compileTemplate(
      { subject: 's', html },
      { limits: { renderMs: 40, memory: 10_000_000, now: steppingNow() } },
    );
    assert.ok(compiled.plans.html?.pieces.some((p) => p.kind === 'liquid'));
    assertLimit(renderError(compiled));
  });

  it('validation does not flag templates whose cost depends on the recipient', async () => {
    const result = await validateTemplate(
      { subject: 's', html: `<body>{% for l in contact.links %}{{ l }}{% endfor %}${FOOTER}</body>` },
      { limits: { renderMs: 50, memory: 100_000, now: steppingNow() } },
    );
    assert.deepEqual(result, { ok: true, errors: [] });
  });
});
