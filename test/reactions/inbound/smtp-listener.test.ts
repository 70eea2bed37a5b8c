import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { createInboundSmtpListener, type InboundEnvelope } from '../../../src/reactions/inbound/smtp-listener.ts';
import { parseInboundMessage } from '../../../src/reactions/inbound/parse.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/inbound/${name}`, import.meta.url));
const VERP = 'b+aalwg3lql4zdamrwl4ytcx3cnrqwg23gojuwiylza5rxixzrgaydckiqhpaim@bounce.shop.example.com';

interface Received { raw: Buffer; envelope: InboundEnvelope }

async function start(t: TestContext, onMessage: (raw: Buffer, envelope: InboundEnvelope) => Promise<void>, maxMessageBytes = 64 * 1024) {
  const logs: string[] = [];
  const log = { info: (_: object, m?: string) => logs.push(`info ${m}`), warn: (_: object, m?: string) => logs.push(`warn ${m}`), error: (_: object, m?: string) => logs.push(`error ${m}`) };
  const listener = createInboundSmtpListener({ log, onMessage }, { host: '127.0.0.1', port: 0, maxMessageBytes });
  const { port } = await listener.listen();
  t.after(() => listener.close());
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  const send = (raw: Buffer, from = '', to = [VERP]) => transport.sendMail({ envelope: { from, to }, raw });
  return { send, logs };
}

describe('inbound SMTP listener', () => {
  it('receives real DSN and ARF fixtures over SMTP and hands them on intact', async (t) => {
    const received: Received[] = [];
    const { send, logs } = await start(t, async (raw, envelope) => { received.push({ raw, envelope }); });
    await send(fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml'));
    await send(fixture('yahoo/arf-abuse-complaint.eml'), 'feedback@arf.mail.yahoo.com', ['fbl@shop.example.com']);
    assert.equal(received.length, 2);
    assert.deepEqual(received[0]?.envelope, { mailFrom: '', rcptTo: [VERP] });
    assert.deepEqual(received[1]?.envelope, { mailFrom: 'feedback@arf.mail.yahoo.com', rcptTo: ['fbl@shop.example.com'] });
    const dsn = await parseInboundMessage(received[0]!.raw);
    assert.equal(dsn.kind, 'dsn');
    assert.equal(dsn.kind === 'dsn' && dsn.recipients[0]?.classification.kind, 'hard_bounce');
    const arf = await parseInboundMessage(received[1]!.raw);
    assert.equal(arf.kind, 'complaint');
    assert.equal(logs.filter((l) => l === 'info inbound message accepted').length, 2);
  });

  it('refuses a message over the size limit with 552 and never calls onMessage', async (t) => {
    let calls = 0;
    const { send } = await start(t, async () => { calls += 1; }, 2048);
    const big = Buffer.concat([Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n\r\n'), Buffer.alloc(8192, 'x\r\n')]);
    await assert.rejects(send(big, 'a@example.com'), (err: { responseCode?: number; response?: string }) => {
      assert.equal(err.responseCode, 552);
      assert.equal(err.response, '552 5.3.4 Message exceeds the maximum size of 2048 bytes');
      return true;
    });
    assert.equal(calls, 0);
  });

  it('answers 451 when onMessage fails, so the sender retries; the next delivery succeeds', async (t) => {
    let fail = true;
    const received: Received[] = [];
    const { send, logs } = await start(t, async (raw, envelope) => {
      if (fail) throw new Error('store down');
      received.push({ raw, envelope });
    });
    await assert.rejects(send(fixture('exim/text-bounce-550-unrouteable-and-user-unknown.eml')), (err: { responseCode?: number; message?: string }) => {
      assert.equal(err.responseCode, 451);
      assert.match(err.message ?? '', /please retry/);
      return true;
    });
    assert.ok(logs.includes('warn inbound message handler failed; asked sender to retry'));
    fail = false;
    await send(fixture('exim/text-bounce-550-unrouteable-and-user-unknown.eml'));
    assert.equal(received.length, 1);
  });
});
