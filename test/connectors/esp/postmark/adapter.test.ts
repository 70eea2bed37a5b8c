/**
 * The Postmark Esp against a local fake of the Postmark API (test/support/fake-postmark.ts) that
 * checks the real request format: the shared contract, then Postmark-only behaviour.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createPostmarkEsp } from '../../../../src/connectors/esp/postmark/adapter.ts';
import { mapPostmarkErrorCode, mapPostmarkHttpError } from '../../../../src/connectors/esp/postmark/postmark-errors.ts';
import type { Esp } from '../../../../src/connectors/esp/port.ts';
import { startFakePostmark } from '../../../support/fake-postmark.ts';
import { aMessage, espContract } from '../port.contract.ts';
import type { EspHarness } from '../port.contract.ts';

async function postmarkHarness(): Promise<EspHarness> {
  const fake = await startFakePostmark();
  fake.refuse('gone@inbox.example.test');
  const clock = createManualClock();
  const esp = createPostmarkEsp({ clock }, { baseUrl: fake.baseUrl, serverToken: fake.token });
  const extra: Esp[] = [];
  return {
    esp,
    received: async () => fake.received,
    requestSizes: () => fake.requestSizes,
    refusedAddress: 'gone@inbox.example.test',
    throttleNext: fake.throttleNext,
    failNext: fake.failNext,
    reportsRetryAfter: true,
    async withBadCredentials() {
      const bad = createPostmarkEsp({ clock }, { baseUrl: fake.baseUrl, serverToken: 'wrong-token' });
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

describe('postmark esp', () => {
  espContract('postmark', postmarkHarness);

  it('sends Metadata, Tag, MessageStream and returns Postmark MessageIDs', async (t) => {
    const fake = await startFakePostmark();
    t.after(() => fake.close());
    const seen: unknown[] = [];
    const spyFetch: typeof fetch = async (input, init) => {
      seen.push(JSON.parse(String(init?.body)));
      return fetch(input, init);
    };
    const esp = createPostmarkEsp(
      { clock: createManualClock(), fetch: spyFetch },
      {
        baseUrl: fake.baseUrl,
        serverToken: fake.token,
        messageStream: 'newsletters',
        trackOpens: true,
      },
    );
    const msg = aMessage({ from: { address: 'news@mail.example.test', name: 'Shop "Best" News' } });
    const receipt = await esp.send(msg);
    assert.match(receipt.providerMessageId, /^[0-9a-f-]{36}$/);
    const body = seen[0] as Record<string, unknown>;
    assert.equal(body['MessageStream'], 'newsletters');
    assert.equal(body['Tag'], 'autumn');
    assert.equal(body['TrackOpens'], true);
    assert.equal(body['From'], '"Shop \\"Best\\" News" <news@mail.example.test>');
    assert.deepEqual(body['Metadata'], {
      sy_msg: msg.correlation.ledgerId,
      sy_campaign: 'camp-1',
      sy_contact: msg.correlation.contactId,
    });
    assert.equal(fake.received[0]!.from, 'news@mail.example.test');
  });

  it('caps maxBatchSize at the documented 500', () => {
    const esp = createPostmarkEsp({ clock: createManualClock() }, { serverToken: 'x', maxBatchSize: 2000 });
    assert.equal(esp.maxBatchSize, 500);
  });

  it('maps Postmark error codes and HTTP statuses', () => {
    assert.equal(mapPostmarkErrorCode(406, 'inactive', 200).code, 'ESP_RECIPIENT_REJECTED');
    assert.equal(
      mapPostmarkErrorCode(300, "Error parsing 'To': Illegal email address 'x'", 422).code,
      'ESP_RECIPIENT_REJECTED',
    );
    assert.equal(
      mapPostmarkErrorCode(300, 'Provide either email TextBody or HtmlBody or both.', 422).code,
      'ESP_MESSAGE_REJECTED',
    );
    const paused = mapPostmarkErrorCode(405, 'Not allowed to send: account has run out of credits', 422);
    assert.equal(paused.code, 'ESP_MESSAGE_REJECTED');
    assert.equal(paused.details?.['accountLevel'], true);
    assert.equal(mapPostmarkHttpError(401, '{"ErrorCode":10,"Message":"bad"}', undefined).code, 'ESP_AUTH_FAILED');
    assert.equal(mapPostmarkHttpError(422, '{"ErrorCode":10,"Message":"bad"}', undefined).code, 'ESP_AUTH_FAILED');
    const limited = mapPostmarkHttpError(429, '{}', 3000);
    assert.equal(limited.code, 'ESP_RATE_LIMITED');
    assert.equal(limited.retryAfterMs, 3000);
    assert.equal(mapPostmarkHttpError(500, '<html>oops</html>', undefined).code, 'ESP_UNAVAILABLE');
  });

  it('every request carries an abort signal; a timed-out request is a retryable ESP_UNAVAILABLE', async () => {
    const signals: unknown[] = [];
    const timingOut: typeof fetch = async (_input, init) => {
      signals.push(init?.signal);
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    };
    const esp = createPostmarkEsp(
      { clock: createManualClock(), fetch: timingOut },
      { serverToken: 'x', timeoutMs: 5000 },
    );
    const err = (await esp.send(aMessage()).catch((e: unknown) => e)) as { code: string; retryable: boolean };
    assert.equal(err.code, 'ESP_UNAVAILABLE');
    assert.equal(err.retryable, true);
    assert.ok(signals[0] instanceof AbortSignal);
  });

  it('an unreachable API is a retryable ESP_UNAVAILABLE on every message', async () => {
    const fake = await startFakePostmark();
    await fake.close();
    const esp = createPostmarkEsp({ clock: createManualClock() }, { baseUrl: fake.baseUrl, serverToken: fake.token });
    const results = await esp.sendBatch([aMessage(), aMessage()]);
    for (const r of results) assert.ok(!r.ok && r.error.code === 'ESP_UNAVAILABLE' && r.error.retryable);
  });
});
