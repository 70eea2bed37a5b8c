import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSendgridSigner, createSnsSigner, basicAuth, signMailgunBody } from '../support/webhook-signing.ts';

const ENTRY = fileURLToPath(new URL('../support/webhook-cli.ts', import.meta.url));
const fixture = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/webhooks/${path}`, import.meta.url), 'utf8')) as Record<string, unknown>;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', ENTRY, 'webhooks', 'verify', ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('switchyard webhooks verify', () => {
  it('verifies every provider offline and explains failures', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-webhook-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, content: string): string => {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    };

    // SendGrid: the SDK's published vector, key given inline (base64) …
    const sgBody = file(
      'sg.json',
      JSON.stringify({ category: 'example_payload', event: 'test_event', message_id: 'message_id' }),
    );
    const sgArgs = [
      '--provider',
      'sendgrid',
      '--body-file',
      sgBody,
      '--header',
      'X-Twilio-Email-Event-Webhook-Signature: MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a'
        + '8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=',
      '--header',
      'X-Twilio-Email-Event-Webhook-Timestamp: 1588788367',
      '--now',
      '2020-05-06T18:06:07Z',
    ];
    const sgKey =
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvF'
      + 'YPAZFceEu/1FwCM/QmGUhA==';
    // … and a locally signed request with the key as a PEM file.
    const signer = createSendgridSigner();
    const sgBody2 = file('sg2.json', '[]');
    const sgHeaders2 = Object.entries(signer.headers('[]', 1772323200)).flatMap(([k, v]) => ['--header', `${k}: ${v}`]);
    const pemFile = file('sg.pem', signer.publicKeyPem);

    const stripeBody = file('stripe.json', '{"id":"evt_test","object":"event"}');
    const stripeArgs = [
      '--provider',
      'stripe',
      '--body-file',
      stripeBody,
      '--secret',
      'whsec_test_secret',
      '--header',
      'Stripe-Signature: t=1772323200,v1=8158a95ffc7f53b215c789b232efabe025ca34525ba0f2c9941ce569dcf98ecd',
    ];

    const mgBody = file(
      'mg.json',
      JSON.stringify(signMailgunBody(fixture('mailgun/delivered.json'), 'key-mg', 1772323200)),
    );
    const pmBody = file('pm.json', JSON.stringify(fixture('postmark/delivery.json')));

    const sns = createSnsSigner();
    const snsMsg = sns.sign(fixture('ses/delivery.json'));
    const snsBody = file('sns.json', JSON.stringify(snsMsg));
    const snsTampered = file(
      'sns-bad.json',
      JSON.stringify({ ...snsMsg, Message: String(snsMsg['Message']).replace('alice', 'eve') }),
    );
    const certFile = file('sns.pem', sns.certPem);
    const snsHeaders = Object.entries(sns.headers(snsMsg)).flatMap(([k, v]) => ['--header', `${k}: ${v}`]);

    const [
      sgOk,
      sgBad,
      sgPem,
      stripeOk,
      stripeStale,
      mgOk,
      mgWrong,
      pmOk,
      pmWrong,
      sesOk,
      sesBad,
      sesWrongTopic,
      usage,
    ] = await Promise.all([
      run([...sgArgs, '--public-key', sgKey]),
      run([
        ...sgArgs,
        '--public-key',
        sgKey,
        '--now',
        '2020-05-06T18:06:07Z',
        '--header',
        'X-Twilio-Email-Event-Webhook-Timestamp: 1588788368',
      ]),
      run([
        '--provider',
        'sendgrid',
        '--body-file',
        sgBody2,
        ...sgHeaders2,
        '--public-key',
        pemFile,
        '--now',
        '2026-03-01T00:00:00Z',
      ]),
      run([...stripeArgs, '--now', '2026-03-01T00:01:00Z']),
      run([...stripeArgs, '--now', '2026-03-01T00:10:00Z']),
      run(['--provider', 'mailgun', '--body-file', mgBody, '--secret', 'key-mg', '--now', '2026-03-01T00:00:30Z']),
      run(['--provider', 'mailgun', '--body-file', mgBody, '--secret', 'key-other', '--now', '2026-03-01T00:00:30Z']),
      run([
        '--provider',
        'postmark',
        '--body-file',
        pmBody,
        '--secret',
        'pm:pw',
        '--header',
        `Authorization: ${basicAuth('pm', 'pw')}`,
      ]),
      run([
        '--provider',
        'postmark',
        '--body-file',
        pmBody,
        '--secret',
        'pm:other',
        '--header',
        `Authorization: ${basicAuth('pm', 'pw')}`,
      ]),
      run([
        '--provider',
        'ses',
        '--body-file',
        snsBody,
        ...snsHeaders,
        '--cert-file',
        certFile,
        '--now',
        '2026-03-01T00:05:10Z',
      ]),
      run([
        '--provider',
        'ses',
        '--body-file',
        snsTampered,
        ...snsHeaders,
        '--cert-file',
        certFile,
        '--now',
        '2026-03-01T00:05:10Z',
      ]),
      run([
        '--provider',
        'ses',
        '--body-file',
        snsBody,
        ...snsHeaders,
        '--cert-file',
        certFile,
        '--topic-arn',
        'arn:aws:sns:eu-west-1:1:other',
        '--now',
        '2026-03-01T00:05:10Z',
      ]),
      run(['--provider', 'sendgrid', '--body-file', sgBody]),
    ]);
    assert.deepEqual([sgOk.code, sgOk.stdout], [0, 'valid\n'], sgOk.stderr);
    // the repeated timestamp header: last one wins (1588788368), so the signature no longer matches
    assert.equal(sgBad.code, 1);
    assert.match(sgBad.stdout, /^invalid: WEBHOOK_SIGNATURE_INVALID: bad signature/);
    assert.deepEqual([sgPem.code, sgPem.stdout], [0, 'valid\n'], sgPem.stderr);
    assert.deepEqual([stripeOk.code, stripeOk.stdout], [0, 'valid\n'], stripeOk.stderr);
    assert.deepEqual(
      [stripeStale.code, stripeStale.stdout],
      [1, 'invalid: WEBHOOK_STALE: timestamp 1772323200 is 600 s old, outside tolerance 300 s\n'],
    );
    assert.deepEqual([mgOk.code, mgOk.stdout], [0, 'valid\n'], mgOk.stderr);
    assert.equal(mgWrong.code, 1);
    assert.match(mgWrong.stdout, /bad signature: HMAC-SHA256/);
    assert.deepEqual([pmOk.code, pmOk.stdout], [0, 'valid\n'], pmOk.stderr);
    assert.deepEqual(
      [pmWrong.code, pmWrong.stdout],
      [1, 'invalid: WEBHOOK_SIGNATURE_INVALID: wrong basic-auth credentials\n'],
    );
    assert.deepEqual([sesOk.code, sesOk.stdout], [0, 'valid\n'], sesOk.stderr);
    assert.equal(sesBad.code, 1);
    assert.match(sesBad.stdout, /bad signature: SignatureVersion 2/);
    assert.equal(sesWrongTopic.code, 1);
    assert.match(sesWrongTopic.stdout, /is not on the allowlist/);
    assert.deepEqual([usage.code, usage.stderr], [2, 'sendgrid needs --public-key (a file, or the base64 key)\n']);
  });
});
