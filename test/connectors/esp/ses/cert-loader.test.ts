/**
 * The SNS certificate fetch against a real local HTTP server (fetch is pointed at it, the host
 * check having passed for the SNS URL): status, size, redirect and timeout are checked, and the
 * registry keeps at most 16 certificates whatever URLs senders name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createSnsCertificateLoader, type CertFetch } from '../../../../src/connectors/esp/ses/cert-loader.ts';
import { CERTIFICATE_CACHE_SIZE, createWebhookVerifiers } from '../../../../src/composition/webhook-verifiers.ts';
import { createSnsSigner } from '../../../support/webhook-signing.ts';

const signer = createSnsSigner();
let server: Server;
let base: string;
before(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case '/ok.pem':
        res.end(signer.certPem);
        break;
      case '/missing.pem':
        res.writeHead(404).end(signer.certPem);
        break;
      case '/declared-big.pem':
        res.writeHead(200, { 'content-length': '100000' }).end('x'.repeat(100_000));
        break;
      case '/streamed-big.pem':
        res.writeHead(200);
        for (let i = 0; i < 100; i++) res.write('-----BEGIN CERTIFICATE-----'.padEnd(1024, 'x'));
        res.end();
        break;
      case '/redirect.pem':
        res.writeHead(302, { location: '/ok.pem' }).end();
        break;
      case '/html.pem':
        res.end('<html>not a certificate</html>');
        break;
      case '/hang.pem':
        res.writeHead(200);
        res.write('-----BEGIN');
        break; // never ends
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const localFetch: CertFetch = (url, init) => fetch(`${base}${new URL(url).pathname}`, init);
const sns = (path: string): string => `https://sns.eu-west-1.amazonaws.com${path}`;

describe('SNS certificate loader', () => {
  it('returns the PEM of a 200 answer', async () => {
    const load = createSnsCertificateLoader({ fetch: localFetch, clock: createManualClock() });
    assert.equal(await load(sns('/ok.pem')), signer.certPem);
  });
  it(
    'refuses a non-2xx answer, a redirect, a body over 16 ' + 'KB (declared or streamed) and a body that is no PEM',
    async () => {
      const load = createSnsCertificateLoader({ fetch: localFetch, clock: createManualClock() });
      await assert.rejects(load(sns('/missing.pem')), /HTTP 404/);
      await assert.rejects(load(sns('/redirect.pem')));
      await assert.rejects(load(sns('/declared-big.pem')), /100000 bytes, more than 16384/);
      await assert.rejects(load(sns('/streamed-big.pem')), /more than 16384 bytes/);
      await assert.rejects(load(sns('/html.pem')), /did not return a PEM certificate/);
    },
  );
  it('gives up after the timeout on the injected clock', async () => {
    const clock = createManualClock();
    const load = createSnsCertificateLoader({ fetch: localFetch, clock }, { timeoutMs: 5_000 });
    const pending = load(sns('/hang.pem'));
    const outcome = pending.then(
      () => 'loaded',
      (e: Error) => e.message,
    );
    await clock.advance(5_000);
    assert.equal(await outcome, 'no certificate within 5000 ms');
  });
});

describe('SNS certificate cache', () => {
  it(`keeps at most ${CERTIFICATE_CACHE_SIZE} certificates, least recently used out first`, async () => {
    const loads: string[] = [];
    const verifiers = createWebhookVerifiers({
      ses: {
        topicArns: [signer.topicArn],
        trustedCas: [signer.caPem],
        loadCertificate: async (u) => {
          loads.push(u);
          return signer.certPem;
        },
      },
    });
    const fixture = JSON.parse(
      readFileSync(new URL('../../../fixtures/webhooks/ses/delivery.json', import.meta.url), 'utf8'),
    ) as Record<string, unknown>;
    const signed = signer.sign(fixture);
    // SigningCertURL is not part of the signed string: a sender can name any SNS-host URL
    const verifyWith = async (n: number): Promise<boolean> => {
      const msg = { ...signed, SigningCertURL: sns(`/cert-${n}.pem`) };
      return (
        await verifiers.ses.verify(
          { body: JSON.stringify(msg), headers: signer.headers(msg) },
          new Date('2026-03-01T00:05:10Z'),
        )
      ).ok;
    };
    for (let n = 0; n <= CERTIFICATE_CACHE_SIZE; n++) assert.equal(await verifyWith(n), true);
    assert.equal(loads.length, CERTIFICATE_CACHE_SIZE + 1);
    await verifyWith(CERTIFICATE_CACHE_SIZE); // most recent: cached
    assert.equal(loads.length, CERTIFICATE_CACHE_SIZE + 1);
    await verifyWith(0); // evicted when the 17th arrived: loaded again
    assert.equal(loads.length, CERTIFICATE_CACHE_SIZE + 2);
  });
});
