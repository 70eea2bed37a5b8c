import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verify, type SesKeys } from '../../../../src/connectors/esp/ses/verify.ts';
import { confirmSubscription } from '../../../../src/connectors/esp/ses/subscription.ts';
import { createSnsSigner } from '../../../support/webhook-signing.ts';

const signer = createSnsSigner();
const NOW = new Date('2026-03-01T00:05:10Z');
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/webhooks/ses/${name}.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

function keys(overrides: Partial<SesKeys> = {}): SesKeys {
  return {
    certificates: async () => signer.certPem,
    topicArns: [signer.topicArn],
    trustedCas: [signer.caPem],
    ...overrides,
  };
}
function request(msg: Record<string, unknown>): { body: string; headers: Record<string, string> } {
  return { body: JSON.stringify(msg), headers: signer.headers(msg) };
}

describe('ses verify (SNS signature)', () => {
  it('accepts SignatureVersion 2 (SHA256) and 1 (SHA1) notifications', async () => {
    for (const v of ['2', '1'] as const) {
      assert.deepEqual(await verify(request(signer.sign(fixture('delivery'), v)), keys(), NOW), { ok: true });
    }
  });
  it('refuses a Timestamp more than 15 minutes in the future even without a tolerance', async () => {
    const msg = signer.sign({ ...fixture('delivery'), Timestamp: new Date(NOW.getTime() + 16 * 60_000).toISOString() });
    const r = await verify(request(msg), keys(), NOW);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'WEBHOOK_STALE');
  });
  it('loads the certificate from the SigningCertURL it was given', async () => {
    const asked: string[] = [];
    await verify(
      request(signer.sign(fixture('delivery'))),
      keys({
        certificates: async (u) => {
          asked.push(u);
          return signer.certPem;
        },
      }),
      NOW,
    );
    assert.deepEqual(asked, [signer.certUrl]);
  });
  it('rejects a tampered Message', async () => {
    const msg = signer.sign(fixture('delivery'));
    const r = await verify(
      request({ ...msg, Message: String(msg['Message']).replace('alice', 'mallory') }),
      keys(),
      NOW,
    );
    assert.equal(!r.ok && r.code, 'WEBHOOK_SIGNATURE_INVALID');
    assert.match(!r.ok ? r.reason : '', /^bad signature: SignatureVersion 2/);
  });
  it('rejects a message signed by another certificate (wrong key)', async () => {
    const other = createSnsSigner();
    const r = await verify(request(other.sign(fixture('delivery'))), keys({ trustedCas: undefined }), NOW);
    assert.match(!r.ok ? r.reason : '', /^bad signature/);
  });
  it(
    'rejects a certificate that does not chain to the ' + 'trusted CA, is not pinned, is expired or is not for SNS',
    async () => {
      const other = createSnsSigner();
      const msg = signer.sign(fixture('delivery'));
      const notIssued = await verify(request(msg), keys({ trustedCas: [other.caPem] }), NOW);
      assert.equal(!notIssued.ok && notIssued.reason, 'cert not trusted: not issued by a trusted CA');
      const notPinned = await verify(
        request(msg),
        keys({ trustedCas: undefined, trustedCertificates: [other.certPem] }),
        NOW,
      );
      assert.equal(!notPinned.ok && notPinned.reason, 'cert not trusted: not one of the pinned SNS certificates');
      const expired = await verify(request(msg), keys(), new Date('2029-01-01T00:00:00Z'));
      assert.match(!expired.ok ? expired.reason : '', /^cert not trusted: valid .* now is 2029-01-01/);
      const rogue = createSnsSigner({ cn: 'evil.example.com' });
      const wrongName = await verify(
        { body: JSON.stringify(rogue.sign(fixture('delivery'))), headers: rogue.headers(fixture('delivery')) },
        keys({ certificates: async () => rogue.certPem, trustedCas: [rogue.caPem] }),
        NOW,
      );
      assert.equal(!wrongName.ok && wrongName.reason, 'cert not trusted: not issued for SNS (names: evil.example.com)');
    },
  );
  it('reports a certificate that cannot be loaded', async () => {
    const r = await verify(
      request(signer.sign(fixture('delivery'))),
      keys({
        certificates: async () => {
          throw new Error('ECONNREFUSED');
        },
      }),
      NOW,
    );
    assert.equal(!r.ok && r.reason, 'cert not trusted: could not load certificate from SigningCertURL (ECONNREFUSED)');
  });
  it('refuses SigningCertURLs that are not https SNS .pem URLs before loading anything', async () => {
    const cases: [string, RegExp][] = [
      ['http://sns.eu-west-1.amazonaws.com/cert.pem', /must be https/],
      ['https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem', /is not an SNS host/],
      ['https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem', /is not an SNS host/],
      ['https://sns.eu-west-1.amazonaws.com/cert.txt', /does not end in .pem/],
    ];
    for (const [url, reason] of cases) {
      let loaded = false;
      const msg = { ...signer.sign(fixture('delivery')), SigningCertURL: url };
      const r = await verify(
        request(msg),
        keys({
          certificates: async () => {
            loaded = true;
            return signer.certPem;
          },
        }),
        NOW,
      );
      assert.match(!r.ok ? r.reason : '', reason);
      assert.equal(loaded, false);
    }
  });
  it('rejects a topic that is not on the allowlist, and header/body disagreement', async () => {
    const msg = signer.sign(fixture('delivery'));
    const r = await verify(request(msg), keys({ topicArns: ['arn:aws:sns:eu-west-1:123456789012:other'] }), NOW);
    assert.equal(!r.ok && r.reason, `TopicArn ${signer.topicArn} is not on the allowlist`);
    const h = await verify(
      {
        body: JSON.stringify(msg),
        headers: { ...signer.headers(msg), 'x-amz-sns-message-type': 'SubscriptionConfirmation' },
      },
      keys(),
      NOW,
    );
    assert.match(!h.ok ? h.reason : '', /does not match body Type Notification/);
    const missing = await verify({ body: JSON.stringify(msg), headers: {} }, keys(), NOW);
    assert.equal(!missing.ok && missing.reason, 'missing header x-amz-sns-message-type');
  });
  it('rejects other SignatureVersions and a stale Timestamp when a tolerance is set', async () => {
    const msg = signer.sign(fixture('delivery'));
    const v3 = await verify(request({ ...msg, SignatureVersion: '3' }), keys(), NOW);
    assert.match(!v3.ok ? v3.reason : '', /unsupported SignatureVersion "3"/);
    const stale = await verify(request(msg), keys({ toleranceSeconds: 5 }), NOW);
    assert.deepEqual(stale, {
      ok: false,
      code: 'WEBHOOK_STALE',
      reason: 'timestamp 2026-03-01T00:05:00.000Z is 10 s old, outside tolerance 5 s',
    });
  });
  it('reports a non-JSON or non-SNS body as a payload problem', async () => {
    const r = await verify({ body: 'hello', headers: {} }, keys(), NOW);
    assert.equal(!r.ok && r.code, 'WEBHOOK_PAYLOAD_INVALID');
    const r2 = await verify({ body: '{"Type":"Bogus","MessageId":"x"}', headers: {} }, keys(), NOW);
    assert.match(!r2.ok ? r2.reason : '', /SNS Type must be one of/);
  });
  it('returns the SubscribeURL of a verified SubscriptionConfirmation', async () => {
    const msg = signer.sign(fixture('subscription-confirmation'));
    const r = await verify(request(msg), keys(), new Date('2026-03-01T00:00:05Z'));
    assert.deepEqual(r, { ok: true, subscribeUrl: fixture('subscription-confirmation')['SubscribeURL'] });
    const tampered = await verify(
      request({ ...msg, SubscribeURL: 'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=other' }),
      keys(),
      NOW,
    );
    assert.equal(tampered.ok, false);
  });
});

describe('ses confirmSubscription', () => {
  it('GETs the SubscribeURL through the injected fetch', async () => {
    const calls: string[] = [];
    await confirmSubscription(
      'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t',
      async (url, init) => {
        calls.push(`${init?.method} ${url}`);
        return { ok: true, status: 200 };
      },
    );
    assert.deepEqual(calls, ['GET https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t']);
  });
  it('refuses non-SNS URLs and reports failures as SwitchyardErrors', async () => {
    let called = false;
    await assert.rejects(
      confirmSubscription('https://169.254.169.254/latest', async () => {
        called = true;
        return { ok: true, status: 200 };
      }),
      { code: 'WEBHOOK_PAYLOAD_INVALID' },
    );
    assert.equal(called, false);
    await assert.rejects(
      confirmSubscription('https://sns.us-east-1.amazonaws.com/?x', async () => ({ ok: false, status: 503 })),
      { code: 'ESP_UNAVAILABLE', retryable: true },
    );
    await assert.rejects(
      confirmSubscription('https://sns.us-east-1.amazonaws.com/?x', async () => {
        throw new Error('offline');
      }),
      { code: 'ESP_UNAVAILABLE' },
    );
  });
});
