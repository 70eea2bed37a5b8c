/**
 * The SES Esp against a local fake of SES v2 SendEmail (test/support/fake-ses.ts) that recomputes
 * the SigV4 signature: the shared contract, then SES-only behaviour.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createSesEsp } from '../../../../src/connectors/esp/ses/adapter.ts';
import { mapSesError, sesErrorType } from '../../../../src/connectors/esp/ses/ses-errors.ts';
import { decodeSesTagValue, encodeSesTagValue } from '../../../../src/connectors/esp/ses/ses-request.ts';
import type { Esp } from '../../../../src/connectors/esp/port.ts';
import { startFakeSes } from '../../../support/fake-ses.ts';
import { aMessage, espContract } from '../port.contract.ts';
import type { EspHarness } from '../port.contract.ts';

async function sesHarness(): Promise<EspHarness> {
  const fake = await startFakeSes();
  fake.refuse('unverified@inbox.example.test');
  const clock = createManualClock();
  const esp = createSesEsp(
    { clock },
    {
      baseUrl: fake.baseUrl,
      region: fake.region,
      credentials: fake.credentials,
      configurationSetName: 'switchyard-events',
    },
  );
  const extra: Esp[] = [];
  return {
    esp,
    received: async () => fake.received,
    requestSizes: () => fake.requestSizes,
    refusedAddress: 'unverified@inbox.example.test',
    throttleNext: fake.throttleNext,
    failNext: fake.failNext,
    reportsRetryAfter: true,
    async withBadCredentials() {
      const bad = createSesEsp(
        { clock },
        {
          baseUrl: fake.baseUrl,
          region: fake.region,
          credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'nope' },
        },
      );
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

describe('ses esp', () => {
  espContract('ses', sesHarness);

  it('sends EmailTags and the configuration set; a wrong secret fails the signature check', async (t) => {
    const fake = await startFakeSes();
    t.after(() => fake.close());
    const clock = createManualClock();
    const esp = createSesEsp(
      { clock },
      { baseUrl: fake.baseUrl, region: fake.region, credentials: fake.credentials, configurationSetName: 'cs-1' },
    );
    const msg = aMessage();
    const receipt = await esp.send(msg);
    assert.match(receipt.providerMessageId, /^0102019[0-9a-f]{32}-000000$/);
    const body = fake.bodies[0]!;
    assert.equal(body['ConfigurationSetName'], 'cs-1');
    assert.deepEqual(body['EmailTags'], [
      { Name: 'sy_msg', Value: encodeSesTagValue(msg.correlation.ledgerId) },
      { Name: 'sy_campaign', Value: 'camp-1' },
      { Name: 'sy_contact', Value: encodeSesTagValue(msg.correlation.contactId) },
    ]);
    const wrongSecret = createSesEsp(
      { clock },
      { baseUrl: fake.baseUrl, region: fake.region, credentials: { ...fake.credentials, secretAccessKey: 'other' } },
    );
    const err = (await wrongSecret.send(aMessage()).catch((e: unknown) => e)) as {
      code: string;
      details: Record<string, unknown>;
    };
    assert.equal(err.code, 'ESP_AUTH_FAILED');
    assert.equal(err.details['type'], 'SignatureDoesNotMatch');
  });

  it('tag values escape reversibly into the SES alphabet', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const enc = encodeSesTagValue(s);
        assert.match(enc, /^[A-Za-z0-9_-]*$/);
        assert.equal(decodeSesTagValue(enc), s);
      }),
    );
    assert.equal(encodeSesTagValue('camp-1:c_2'), 'camp-1_3ac__2');
  });

  it('maps SES error types', () => {
    const cases: [number, string, string, string][] = [
      [403, 'UnrecognizedClientException', 'The security token included in the request is invalid.', 'ESP_AUTH_FAILED'],
      [429, 'TooManyRequestsException', 'Too many requests', 'ESP_RATE_LIMITED'],
      [400, 'LimitExceededException', 'Daily message quota exceeded.', 'ESP_RATE_LIMITED'],
      [400, 'LimitExceededException', 'Maximum sending rate exceeded.', 'ESP_RATE_LIMITED'],
      [400, 'MessageRejected', 'Email address is not verified: a@b.test', 'ESP_RECIPIENT_REJECTED'],
      [400, 'MessageRejected', 'Email address is not verified: news@mail.example.test', 'ESP_MESSAGE_REJECTED'],
      [400, 'AccountSuspendedException', 'suspended', 'ESP_MESSAGE_REJECTED'],
      [400, 'SendingPausedException', 'paused', 'ESP_MESSAGE_REJECTED'],
      [400, 'MailFromDomainNotVerifiedException', 'not verified', 'ESP_MESSAGE_REJECTED'],
      [500, 'InternalFailure', 'oops', 'ESP_UNAVAILABLE'],
      [503, '', 'Service Unavailable', 'ESP_UNAVAILABLE'],
    ];
    for (const [status, type, message, code] of cases)
      assert.equal(mapSesError(status, type, message, 'a@b.test').code, code, `${type} ${message}`);
    assert.equal(mapSesError(400, 'SendingPausedException', 'x', 'a@b.test').details?.['accountLevel'], true);
    assert.equal(sesErrorType('MessageRejected:http://internal.amazon.com/coral/x/', {}), 'MessageRejected');
    assert.equal(
      sesErrorType(null, { __type: 'com.amazonaws.sesv2#TooManyRequestsException' }),
      'TooManyRequestsException',
    );
  });
});
