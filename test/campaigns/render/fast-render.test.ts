import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createEngines as createLiquidEngines, TRACK_FN_VAR } from '../../../src/campaigns/render/liquid-engine.ts';
import { planTemplate, renderPlan } from '../../../src/campaigns/render/fast-render.ts';

/** No real-time limit worth the name: a busy machine must not make liquidjs give up mid-property. */
const createEngines = () => createLiquidEngines({ renderMs: 600_000, memory: 10_000_000 });

const TEMPLATES = [
  "Hi {{ contact.firstName }}! {{ contact.firstName | default: 'there' }} {{ contact.lastName | default: "
    + '"x" | raw }} {{ contact.firstName | raw }}',
  "<p>{{ contact.tags[0] }} {{ contact.tags[1] | default: 'none' }} {{ contact.address.city }} {{ "
    + 'contact.address.city.name }}</p>',
  '{% for p in products %}<a href="{% sy_track_link 1 %}https://x.example/p/{{ p.slug }}?c={{ contact.id '
    + "}}&amp;n={{ p.name }}{% endsy_track_link %}\">{{ p.name | default: '?' }}</a>{% else %}none{% endfor %}",
  '{% for p in products %}{{ forloop.index }}:{{ p.name }}{% endfor %} {{ products.size }} {{ products.first.name }}',
  '{% if contact.vip %}VIP {{ contact.firstName | upcase }}{% endif %}{{ true }}{{ nil }}{{ empty }}',
  '{% for t in contact.tags %}[{{ t }}]{% endfor %}{% for p in products limit: 1 %}{{ p.slug }}{% endfor %}',
  '{{ contact }}{{ contact.tags }}{{ contact.joined }}{{ constructor }}{{ contact.toString }}',
  '{% for p in contact.firstName %}<{{ p }}>{% endfor %}{% for kv in contact.address %}({{ kv[0] }}){% endfor %}',
];

const value = fc.oneof(
  fc.string(),
  fc.constantFrom('<b>&amp;"\'', '', ' ', '0', 'false'),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
);
const item = fc.record({ slug: value, name: value }, { requiredKeys: [] });
const scopeArb = fc.record({
  contact: fc.record(
    {
      id: fc.string(),
      firstName: value,
      lastName: value,
      vip: fc.boolean(),
      tags: fc.oneof(fc.array(value, { maxLength: 3 }), value),
      address: fc.oneof(fc.record({ city: fc.oneof(value, fc.record({ name: value })) }), value),
      joined: fc.oneof(fc.date({ noInvalidDate: true }), value),
    },
    { requiredKeys: ['id'] },
  ),
  products: fc.oneof(fc.array(item, { maxLength: 4 }), value, fc.record({ a: value })),
});

/** Output or error message: where liquidjs throws (e.g. printing a null-prototype object), so must we. */
function outcome(render: () => string): { ok: string } | { error: string } {
  try {
    return { ok: render() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describe('fast-render', () => {
  it('renders exactly what liquidjs renders, for html (escaped) and text engines', () => {
    const engines = createEngines();
    const cases = TEMPLATES.flatMap((source) =>
      (['html', 'text'] as const).map((which) => {
        const templates = engines[which].parse(source);
        const plan = planTemplate(engines[which], templates, source, which === 'html');
        assert.ok(plan !== null);
        return { source, which, templates, plan };
      }),
    );
    fc.assert(
      fc.property(scopeArb, (scope) => {
        const withTrack = {
          ...scope,
          [TRACK_FN_VAR]: (url: string, i: number) => `https://t.example/${i}/${encodeURIComponent(url)}`,
        };
        for (const c of cases) {
          const engine = engines[c.which];
          assert.deepEqual(
            outcome(() => renderPlan(engine, c.plan, withTrack)),
            outcome(() => engine.renderSync(c.templates, withTrack) as string),
            `${c.which}: ${c.source}`,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('leaves templates that keep state across tags to liquidjs', () => {
    const engines = createEngines();
    const source = '{% assign n = contact.firstName %}{{ n }}';
    assert.equal(planTemplate(engines.text, engines.text.parse(source), source, false), null);
  });

  it('plans the common constructs instead of handing them to liquidjs', () => {
    const engines = createEngines();
    const source = TEMPLATES[2] as string;
    const plan = planTemplate(engines.html, engines.html.parse(source), source, true);
    assert.deepEqual(
      plan?.pieces.map((p) => p.kind),
      ['for'],
    );
  });
});
