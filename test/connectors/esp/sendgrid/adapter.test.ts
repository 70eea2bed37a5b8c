/**
 * The SendGrid Esp against a local fake of v3 mail send (test/support/fake-sendgrid.ts) that
 * checks the real request format: the shared contract, then SendGrid-only behaviour.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createSendGridEsp } from '../../../../src/connectors/esp/sendgrid/adapter.ts';
import { mapSendGridError, sendGridRetryAfterMs } from '../../../../src/connectors/esp/sendgrid/sendgrid-errors.ts';
import type { Esp } from '../../../../src/connectors/esp/port.ts';
import { startFakeSendGrid } from '../../../support/fake-sendgrid.ts';
import { aMessage, espContract } from '../port.contract.ts';
import type { EspHarness } from '../port.contract.ts';

async function sendGridHarness(): Promise<EspHarness> {
  const fake = await startFakeSendGrid();
  fake.refuse('invalid@inbox.example.test');
  const clock = createManualClock();
  const esp = createSendGridEsp({ clock }, { baseUrl: fake.baseUrl, apiKey: fake.apiKey });
  const extra: Esp[] = [];
  return {
    esp,
    received: async () => fake.received,
    requestSizes: () => fake.requestSizes,
    refusedAddress: 'invalid@inbox.example.test',
    throttleNext: fake.throttleNext,
    failNext: fake.failNext,
    reportsRetryAfter: true,
    async withBadCredentials() {
      const bad = createSendGridEsp({ clock }, { baseUrl: fake.baseUrl, apiKey: 'SG.revoked' });
      extra.push(bad);
      return bad;
    },
    async close() {
      await esp.close();
      for (const e of extra) await e.close();
      await fake.close();
    },
  };
}

describe('sendgrid esp', () => {
  espContract('sendgrid', sendGridHarness);

  it('groups identical content into personalizations and splits different content into requests', async (t) => {
    const fake = await startFakeSendGrid();
    t.after(() => fake.close());
    const esp = createSendGridEsp({ clock: createManualClock() }, { baseUrl: fake.baseUrl, apiKey: fake.apiKey });
    const a1 = aMessage({ subject: 'For you, Ann' });
    const b = aMessage({ text: 'another body' });
    const a2 = aMessage({ subject: 'For you, Bob' });
    const results = await esp.sendBatch([a1, b, a2]);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual([...fake.requestSizes].sort(), [1, 2]);
    const body = fake.bodies.find((x) => (x as { personalizations: unknown[] }).personalizations.length === 2) as {
      personalizations: { subject: string; custom_args: Record<string, string> }[];
      categories: string[];
      content: { type: string }[];
    };
    assert.deepEqual(
      body.personalizations.map((p) => p.subject),
      ['For you, Ann', 'For you, Bob'],
    );
    assert.deepEqual(body.personalizations[0]!.custom_args, {
      sy_msg: a1.correlation.ledgerId,
      sy_campaign: 'camp-1',
      sy_contact: a1.correlation.contactId,
    });
    assert.deepEqual(body.categories, ['autumn']);
    assert.deepEqual(
      body.content.map((c) => c.type),
      ['text/plain', 'text/html'],
    );
  });

  it('never puts one address twice in a request', async (t) => {
    const fake = await startFakeSendGrid();
    t.after(() => fake.close());
    const esp = createSendGridEsp({ clock: createManualClock() }, { baseUrl: fake.baseUrl, apiKey: fake.apiKey });
    const to = { address: 'same@inbox.example.test' };
    const results = await esp.sendBatch([aMessage({ to }), aMessage({ to })]);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(fake.requestSizes, [1, 1]);
  });

  it('a 413 splits the request in half and retries the halves', async (t) => {
    const fake = await startFakeSendGrid();
    t.after(() => fake.close());
    let calls = 0;
    const tooLargeOnce: typeof fetch = async (input, init) => {
      if (calls++ === 0)
        return new Response(JSON.stringify({ errors: [{ message: 'payload too large', field: null }] }), {
          status: 413,
        });
      return fetch(input, init);
    };
    const esp = createSendGridEsp(
      { clock: createManualClock(), fetch: tooLargeOnce },
      { baseUrl: fake.baseUrl, apiKey: fake.apiKey },
    );
    const results = await esp.sendBatch([aMessage(), aMessage(), aMessage()]);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(fake.requestSizes, [2, 1]);
  });

  it('maps statuses: 400 message, 403 sender vs key, 429 with X-RateLimit-Reset, 5xx', () => {
    assert.equal(
      mapSendGridError(400, [{ message: 'The subject is required.', field: 'subject' }], undefined).code,
      'ESP_MESSAGE_REJECTED',
    );
    assert.equal(
      mapSendGridError(
        400,
        [{ message: 'Does not contain a valid address.', field: 'personalizations.0.to.0.email' }],
        undefined,
      ).code,
      'ESP_RECIPIENT_REJECTED',
    );
    assert.equal(
      mapSendGridError(
        403,
        [{ message: 'The from address does not match a verified Sender Identity.', field: 'from' }],
        undefined,
      ).code,
      'ESP_MESSAGE_REJECTED',
    );
    assert.equal(
      mapSendGridError(403, [{ message: 'access forbidden', field: null }], undefined).code,
      'ESP_AUTH_FAILED',
    );
    assert.equal(mapSendGridError(413, [], undefined).code, 'ESP_MESSAGE_REJECTED');
    assert.equal(mapSendGridError(503, [], undefined).retryable, true);
    const now = new Date('2026-01-01T00:00:00Z');
    const reset = String(now.getTime() / 1000 + 30);
    assert.equal(sendGridRetryAfterMs(new Headers({ 'x-ratelimit-reset': reset }), now), 30_000);
    assert.equal(sendGridRetryAfterMs(new Headers({ 'retry-after': '5' }), now), 5000);
    assert.equal(sendGridRetryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }), now), 10_000);
  });
});
