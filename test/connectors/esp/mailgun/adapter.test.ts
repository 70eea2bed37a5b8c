/**
 * The Mailgun Esp against a local fake of /v3/<domain>/messages (test/support/fake-mailgun.ts):
 * the shared contract in one-message mode and in batch mode, then Mailgun-only behaviour.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createMailgunEsp } from '../../../../src/connectors/esp/mailgun/adapter.ts';
import type { MailgunEspOptions } from '../../../../src/connectors/esp/mailgun/adapter.ts';
import { mapMailgunError } from '../../../../src/connectors/esp/mailgun/mailgun-errors.ts';
import type { Esp } from '../../../../src/connectors/esp/port.ts';
import { startFakeMailgun } from '../../../support/fake-mailgun.ts';
import { aMessage, espContract } from '../port.contract.ts';
import type { EspHarness } from '../port.contract.ts';

function mailgunHarness(batchSending: boolean) {
  return async (): Promise<EspHarness> => {
    const fake = await startFakeMailgun();
    fake.refuse('invalid@inbox.example.test');
    const clock = createManualClock();
    const opts = (apiKey: string): MailgunEspOptions => ({
      baseUrl: fake.baseUrl,
      domain: fake.domain,
      apiKey,
      batchSending,
    });
    const esp = createMailgunEsp({ clock }, opts(fake.apiKey));
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
        const bad = createMailgunEsp({ clock }, opts('key-wrong'));
        extra.push(bad);
        return bad;
      },
      async close() {
        await esp.close();
        for (const e of extra) await e.close();
        await fake.close();
      },
    };
  };
}

describe('mailgun esp', () => {
  espContract('mailgun', mailgunHarness(false));
  espContract('mailgun (batch sending)', mailgunHarness(true));

  it('sends user variables, headers, tags and Message-Id as form fields', async (t) => {
    const fake = await startFakeMailgun();
    t.after(() => fake.close());
    const esp = createMailgunEsp(
      { clock: createManualClock() },
      { baseUrl: fake.baseUrl, domain: fake.domain, apiKey: fake.apiKey },
    );
    const msg = aMessage({ tags: ['a', 'b', 'c', 'd'], replyTo: { address: 'help@mail.example.test' } });
    const receipt = await esp.send(msg);
    assert.match(receipt.providerMessageId, /^\d+\.[0-9a-f]+@mg\.example\.test$/);
    const fields = fake.requests[0]!;
    const all = (k: string) => fields.filter(([f]) => f === k).map(([, v]) => v);
    assert.deepEqual(all('o:tag'), ['a', 'b', 'c']);
    assert.deepEqual(all('v:sy_msg'), [msg.correlation.ledgerId]);
    assert.deepEqual(all('h:Message-Id'), [`<${msg.messageId}>`]);
    assert.deepEqual(all('h:Reply-To'), ['help@mail.example.test']);
    assert.deepEqual(all('from'), ['"Example News" <news@mail.example.test>']);
  });

  it('batch mode puts identical content in one request with recipient-variables', async (t) => {
    const fake = await startFakeMailgun();
    t.after(() => fake.close());
    const esp = createMailgunEsp(
      { clock: createManualClock() },
      { baseUrl: fake.baseUrl, domain: fake.domain, apiKey: fake.apiKey, batchSending: true },
    );
    assert.equal(esp.maxBatchSize, 1000);
    const results = await esp.sendBatch([aMessage(), aMessage(), aMessage({ subject: 'other' })]);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(fake.requestSizes.slice().sort(), [1, 2]);
    const batch = fake.requests.find((f) => f.filter(([k]) => k === 'to').length === 2)!;
    const vars = JSON.parse(batch.find(([k]) => k === 'recipient-variables')![1]) as Record<
      string,
      Record<string, string>
    >;
    assert.equal(Object.keys(vars).length, 2);
  });

  it('uses the EU base URL for region eu', async () => {
    const urls: string[] = [];
    const capture: typeof fetch = async (input) => {
      urls.push(String(input));
      return new Response(JSON.stringify({ id: '<1@mg.example.test>', message: 'Queued. Thank you.' }), {
        status: 200,
      });
    };
    const esp = createMailgunEsp(
      { clock: createManualClock(), fetch: capture },
      { domain: 'mg.example.test', apiKey: 'k', region: 'eu' },
    );
    await esp.send(aMessage());
    assert.deepEqual(urls, ['https://api.eu.mailgun.net/v3/mg.example.test/messages']);
  });

  it('maps Mailgun statuses', () => {
    assert.equal(mapMailgunError(401, 'Forbidden', undefined).code, 'ESP_AUTH_FAILED');
    assert.equal(
      mapMailgunError(
        400,
        '{"message":"\'to\' parameter is not a valid address. please check documentation"}',
        undefined,
      ).code,
      'ESP_RECIPIENT_REJECTED',
    );
    assert.equal(
      mapMailgunError(400, '{"message":"from parameter is missing"}', undefined).code,
      'ESP_MESSAGE_REJECTED',
    );
    const notAllowed = mapMailgunError(
      403,
      '{"message":"Domain mg.example.test is not allowed to send: account disabled"}',
      undefined,
    );
    assert.equal(notAllowed.code, 'ESP_MESSAGE_REJECTED');
    assert.equal(notAllowed.details?.['accountLevel'], true);
    assert.equal(mapMailgunError(429, '{"message":"slow down"}', 2000).retryAfterMs, 2000);
    assert.equal(mapMailgunError(502, 'Bad Gateway', undefined).code, 'ESP_UNAVAILABLE');
  });
});
