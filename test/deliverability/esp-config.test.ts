/**
 * HTTP ESPs and failover selected by configuration: loadConfig names every missing key for the
 * chosen primary and secondary, and createConfiguredEsp (src/composition/esp.ts) builds the named adapter (wrapped in
 * failover when a secondary is set). No request is made.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createConfiguredEsp } from '../../src/composition/esp.ts';
import { createManualClock } from '../../src/clock/manual.ts';
import { loadConfig } from '../../src/config.ts';
import type { SwitchyardError } from '../../src/core/errors.ts';

const base = { SWITCHYARD_DEMO: 'false', SWITCHYARD_TRACKING_SECRET: 's' };
const deps = {
  clock: createManualClock(),
  ingest: async () => ({ accepted: 0, duplicates: 0 }),
} as unknown as Parameters<typeof createConfiguredEsp>[1];

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...base, ...env });
    return [];
  } catch (err) {
    assert.equal((err as SwitchyardError).code, 'CONFIG_INVALID');
    return ((err as SwitchyardError).details as { errors: string[] }).errors;
  }
}

describe('ESP selection by config', () => {
  it('names what each ESP needs', () => {
    assert.deepEqual(problems({ SWITCHYARD_ESP: 'sendgrid' }), [
      'SWITCHYARD_ESP_API_KEY: required when SWITCHYARD_ESP=sendgrid',
    ]);
    assert.deepEqual(problems({ SWITCHYARD_ESP: 'mailgun', SWITCHYARD_ESP_API_KEY: 'k' }), [
      'SWITCHYARD_MAILGUN_DOMAIN: required when SWITCHYARD_ESP=mailgun',
    ]);
    assert.deepEqual(problems({ SWITCHYARD_ESP: 'ses', SWITCHYARD_SES_REGION: 'eu-west-1' }), [
      'SWITCHYARD_SES_ACCESS_KEY_ID: required when SWITCHYARD_ESP=ses',
      'SWITCHYARD_SES_SECRET_ACCESS_KEY: required when SWITCHYARD_ESP=ses',
    ]);
    assert.match(
      problems({
        SWITCHYARD_ESP: 'mailgun',
        SWITCHYARD_ESP_API_KEY: 'k',
        SWITCHYARD_MAILGUN_DOMAIN: 'mg.example.com',
        SWITCHYARD_MAILGUN_REGION: 'asia',
      })[0]!,
      /^SWITCHYARD_MAILGUN_REGION: must be one of us, eu \(got "asia"\)/,
    );
    assert.deepEqual(
      problems({ SWITCHYARD_ESP: 'postmark', SWITCHYARD_ESP_API_KEY: 'k', SWITCHYARD_ESP_SECONDARY: 'sendgrid' }),
      ['SWITCHYARD_ESP_SECONDARY_API_KEY: required when SWITCHYARD_ESP_SECONDARY=sendgrid'],
    );
    assert.deepEqual(
      problems({ SWITCHYARD_ESP: 'postmark', SWITCHYARD_ESP_API_KEY: 'k', SWITCHYARD_ESP_SECONDARY: 'postmark' }),
      ['SWITCHYARD_ESP_SECONDARY: must differ from SWITCHYARD_ESP (both postmark)'],
    );
    assert.deepEqual(problems({ SWITCHYARD_ESP: 'sandbox' }), []);
  });

  it('builds the named adapter, and a failover wrapper when a secondary is set', async () => {
    const cases: [Record<string, string>, string, string][] = [
      [{ SWITCHYARD_ESP: 'sendgrid', SWITCHYARD_ESP_API_KEY: 'SG.x' }, 'sendgrid', 'before-request'],
      [
        {
          SWITCHYARD_ESP: 'mailgun',
          SWITCHYARD_ESP_API_KEY: 'k',
          SWITCHYARD_MAILGUN_DOMAIN: 'mg.example.com',
          SWITCHYARD_MAILGUN_REGION: 'eu',
        },
        'mailgun',
        'before-request',
      ],
      [
        {
          SWITCHYARD_ESP: 'ses',
          SWITCHYARD_SES_REGION: 'eu-west-1',
          SWITCHYARD_SES_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
          SWITCHYARD_SES_SECRET_ACCESS_KEY: 'secret',
        },
        'ses',
        'before-request',
      ],
      [{ SWITCHYARD_ESP: 'postmark', SWITCHYARD_ESP_API_KEY: 'tok' }, 'postmark', 'before-request'],
      [
        {
          SWITCHYARD_ESP: 'smtp',
          SWITCHYARD_SMTP_URL: 'smtp://127.0.0.1:2525',
          SWITCHYARD_ESP_SECONDARY: 'sendgrid',
          SWITCHYARD_ESP_SECONDARY_API_KEY: 'SG.y',
        },
        'smtp',
        'before-request',
      ],
    ];
    for (const [env, name, commitPoint] of cases) {
      const esp = createConfiguredEsp(loadConfig({ ...base, ...env }).esp, deps);
      assert.equal(esp.name, name, JSON.stringify(env));
      assert.equal(esp.commitPoint, commitPoint);
      await esp.close();
    }
    const failover = createConfiguredEsp(
      loadConfig({
        ...base,
        SWITCHYARD_ESP: 'smtp',
        SWITCHYARD_SMTP_URL: 'smtp://127.0.0.1:2525',
        SWITCHYARD_ESP_SECONDARY: 'sendgrid',
        SWITCHYARD_ESP_SECONDARY_API_KEY: 'SG.y',
      }).esp,
      deps,
    );
    assert.equal((failover as unknown as { active(): string }).active(), 'primary');
    await failover.close();
  });

  it('ESP account rate limits reach the deliverability slice the governor gets', () => {
    assert.deepEqual(
      loadConfig({
        ...base,
        SWITCHYARD_ESP: 'postmark',
        SWITCHYARD_ESP_API_KEY: 'k',
        SWITCHYARD_ESP_RATE_PER_SEC: '50',
        SWITCHYARD_ESP_SECONDARY: 'sendgrid',
        SWITCHYARD_ESP_SECONDARY_API_KEY: 'SG.y',
        SWITCHYARD_ESP_SECONDARY_RATE_PER_SEC: '600',
      }).deliverability,
      { providers: { postmark: { ratePerSec: 50 }, sendgrid: { ratePerSec: 600 } } },
    );
    assert.deepEqual(loadConfig(base).deliverability, { providers: {} });
    assert.match(problems({ SWITCHYARD_ESP_RATE_PER_SEC: '0' })[0]!, /^SWITCHYARD_ESP_RATE_PER_SEC: /);
  });
});
