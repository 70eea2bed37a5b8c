import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { registerJsonDepthLimit } from '../../../src/api/guards/json-depth.ts';
import { jsonNestingExceeds as exceedsJsonDepth } from '../../../src/core/json-depth.ts';
import { addDummyRoutes, callsTo, createGuardedApp, type GuardedApp } from '../../support/guarded-app.ts';

/** Nesting depth of a parsed value, the slow obvious way ([] and {} are 1). */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (typeof v === 'object' && v !== null) return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

async function setup(maxDepth = 64): Promise<GuardedApp> {
  const g = createGuardedApp();
  registerJsonDepthLimit(g.app, { maxDepth });
  addDummyRoutes(g);
  return g;
}

const post = (g: GuardedApp, payload: string, url = '/v1/campaigns') =>
  g.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } });

describe('JSON depth guard', () => {
  it('attack: JSON nested 100 000 deep gets 400 JSON_TOO_DEEP, not a 500', async (t) => {
    // Reproduce: JSON.parse copes, but any recursive walk of the parsed body (validation,
    // serialisation) overflows the stack.
    const walk = (v: unknown): number => (Array.isArray(v) ? 1 + walk(v[0]) : 0);
    const bare = createGuardedApp();
    bare.app.post('/walk', async (req) => ({ depth: walk(req.body) }));
    t.after(() => bare.app.close());
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assert.equal(
      (
        await bare.app.inject({
          method: 'POST',
          url: '/walk',
          payload: deep,
          headers: { 'content-type': 'application/json' },
        })
      ).statusCode,
      500,
    );

    const g = await setup();
    g.app.post('/walk', async (req) => ({ depth: walk(req.body) }));
    t.after(() => g.app.close());
    const walked = await g.app.inject({
      method: 'POST',
      url: '/walk',
      payload: deep,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(walked.statusCode, 400);
    assert.equal(walked.json().error, 'JSON_TOO_DEEP');
    for (const body of [
      '['.repeat(100_000) + ']'.repeat(100_000),
      '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000),
      '['.repeat(100_000),
    ]) {
      const res = await post(g, body);
      assert.equal(res.statusCode, 400);
      assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message']);
      assert.equal(res.json().error, 'JSON_TOO_DEEP');
    }
    assert.equal(callsTo(g, '/v1/campaigns'), 0);
  });

  it('the limit is inclusive; brackets inside strings and escaped quotes do not count', async (t) => {
    const g = await setup(3);
    t.after(() => g.app.close());
    assert.equal((await post(g, '{"a":[{"b":1}]}')).statusCode, 200);
    const withCharset = await g.app.inject({
      method: 'POST',
      url: '/v1/campaigns',
      payload: '[[[[]]]]',
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(withCharset.json().error, 'JSON_TOO_DEEP', 'media type parameters do not bypass the check');
    assert.equal((await post(g, '{"a":[{"b":[]}]}')).statusCode, 400);
    assert.equal((await post(g, JSON.stringify({ a: '[[[[[[{{{{', b: 'say \\"[[[[ "', c: [1] }))).statusCode, 200);
    assert.deepEqual(g.bodies[1], { a: '[[[[[[{{{{', b: 'say \\"[[[[ "', c: [1] });
  });

  it("keeps the parser's other protections: malformed JSON and prototype poisoning are 400", async (t) => {
    const g = await setup();
    t.after(() => g.app.close());
    assert.equal((await post(g, '{"a":')).statusCode, 400);
    assert.equal((await post(g, '{"__proto__":{"admin":true}}')).statusCode, 400);
    assert.equal((await post(g, '{"constructor":{"prototype":{"admin":true}}}')).statusCode, 400);
    assert.equal(callsTo(g, '/v1/campaigns'), 0);
  });

  it('an empty application/json body is no body (a body-less POST may still declare JSON)', async (t) => {
    const g = await setup();
    t.after(() => g.app.close());
    const res = await post(g, '', '/v1/campaigns/c1/cancel');
    assert.equal(res.statusCode, 200);
    assert.equal(g.bodies[0], undefined);
  });

  it('property: agrees with the depth of the parsed value for any JSON text', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (value, limit) => {
        const text = JSON.stringify(value);
        assert.equal(exceedsJsonDepth(text, limit), depthOf(value) > limit);
      }),
      { numRuns: 500 },
    );
  });
});
