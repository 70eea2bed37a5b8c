/** The start banner: what is in force, the warnings for risky settings, and never a secret. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bannerWarnings, startBanner } from '../../src/cli/banner.ts';
import { loadConfig } from '../../src/config.ts';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEA\n-----END PRIVATE KEY-----';

describe('start banner', () => {
  it('the defaults: PGlite, sandbox, demo on, loopback admin, and no warnings', () => {
    const c = loadConfig({ SWITCHYARD_DATA_DIR: '/var/sy' });
    const text = startBanner(c).join('\n');
    assert.match(text, /store +PGlite \(embedded\) at \/var\/sy\/pglite/);
    assert.match(text, /bus +postgres-log/);
    assert.match(text, /ESP +sandbox/);
    assert.match(text, /DKIM +off/);
    assert.match(text, /demo +on/);
    assert.match(text, /admin +http:\/\/127\.0\.0\.1:3001/);
    assert.match(text, /inbound +SMTP (on port \d+|off)/);
    assert.deepEqual(bannerWarnings(c), []);
    assert.doesNotMatch(text, /WARNING/);
  });

  it(
    'a real ESP with no public URL, a local tracking secret, no webhook key and an exposed admin ' + 'listener warns',
    () => {
      const c = loadConfig({
        SWITCHYARD_ESP: 'mailgun',
        SWITCHYARD_ESP_API_KEY: 'key-supersecret',
        SWITCHYARD_MAILGUN_DOMAIN: 'mg.example.com',
        SWITCHYARD_ADMIN_HOST: '0.0.0.0',
        SWITCHYARD_ADMIN_ALLOWED_HOSTS: 'admin.example.com',
        DATABASE_URL: 'postgres://app:hunter2@db.internal:5432/switchyard',
        SWITCHYARD_DEMO: 'false',
      });
      const text = startBanner(c).join('\n');
      assert.match(text, /store +PostgreSQL db\.internal:5432\/switchyard/);
      assert.match(text, /ESP +mailgun mg\.example\.com/);
      assert.match(text, /demo +off/);
      assert.match(
        text,
        /WARNING: tracking and unsubscribe links point at http:\/\/127\.0\.0\.1:3000.*SWITCHYARD_PUBLIC_URL/,
      );
      assert.match(text, /WARNING: the tracking secret was generated into .*SWITCHYARD_TRACKING_SECRET/);
      assert.match(text, /WARNING: the admin API listens on 0\.0\.0\.0, not loopback/);
      assert.match(text, /WARNING: no webhook key for mailgun.*SWITCHYARD_MAILGUN_SIGNING_KEY/);
      for (const secret of ['hunter2', 'key-supersecret']) assert.ok(!text.includes(secret), secret);
    },
  );

  it('SMTP with DKIM, a public URL and secrets set: domain and selector shown, no key, no warnings', () => {
    const c = loadConfig({
      SWITCHYARD_ESP: 'smtp',
      SWITCHYARD_SMTP_URL: 'smtp://user:smtppass@relay.example.com:587',
      SWITCHYARD_DKIM_DOMAIN: 'example.com',
      SWITCHYARD_DKIM_SELECTOR: 's1',
      SWITCHYARD_DKIM_PRIVATE_KEY: PEM,
      SWITCHYARD_PUBLIC_URL: 'https://mail.example.com',
      SWITCHYARD_TRACKING_SECRET: 'trackingsecret-0123456789abcdef0123456789',
      SWITCHYARD_DEMO: 'false',
    });
    const text = startBanner(c).join('\n');
    assert.match(text, /ESP +smtp relay\.example\.com:587/);
    assert.match(text, /DKIM +on, domain example\.com, selector s1/);
    assert.match(text, /links to https:\/\/mail\.example\.com/);
    assert.deepEqual(bannerWarnings(c), []);
    for (const secret of ['smtppass', 'BEGIN PRIVATE KEY', 'trackingsecret']) assert.ok(!text.includes(secret), secret);
  });
});
