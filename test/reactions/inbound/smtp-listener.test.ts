import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { decideRecipient } from '../../../src/core/inbound/recipients.ts';
import {
  createInboundSmtpListener,
  type InboundEnvelope,
  type InboundSmtpListenerOptions,
} from '../../../src/reactions/inbound/smtp-listener.ts';
import { parseInboundMessage } from '../../../src/reactions/inbound/parse.ts';
import { connectSmtp, openSession } from '../../support/smtp-client.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/inbound/${name}`, import.meta.url));
const VERP = 'b+aalwg3lql4zdamrwl4ytcx3cnrqwg23gojuwiylza5rxixzrgaydckiqhpaim@bounce.shop.example.com';

interface Received {
  raw: Buffer;
  envelope: InboundEnvelope;
}

const POLICY = { domains: ['bounce.shop.example.com', 'shop.example.com'], verpSecrets: ['fixture-secret'] };

async function start(
  t: TestContext,
  onMessage: (raw: Buffer, envelope: InboundEnvelope) => Promise<void>,
  maxMessageBytes = 64 * 1024,
  limits: Partial<InboundSmtpListenerOptions> = {},
) {
  const logs: string[] = [];
  const log = {
    info: (_: object, m?: string) => logs.push(`info ${m}`),
    warn: (_: object, m?: string) => logs.push(`warn ${m}`),
    error: (_: object, m?: string) => logs.push(`error ${m}`),
  };
  const acceptRecipient = (address: string) => decideRecipient(address, POLICY).accept;
  const listener = createInboundSmtpListener(
    { log, onMessage, acceptRecipient },
    { host: '127.0.0.1', port: 0, maxMessageBytes, ...limits },
  );
  const { port } = await listener.listen();
  t.after(() => listener.close());
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  const send = (raw: Buffer, from = '', to = [VERP]) => transport.sendMail({ envelope: { from, to }, raw });
  return { send, logs, port };
}

const ignore = async (): Promise<void> => undefined;

describe('inbound SMTP listener', () => {
  it('receives real DSN and ARF fixtures over SMTP and hands them on intact', async (t) => {
    const received: Received[] = [];
    const { send, logs } = await start(t, async (raw, envelope) => {
      received.push({ raw, envelope });
    });
    await send(fixture('postfix/hard-bounce-550-5-1-1-user-unknown.eml'));
    await send(fixture('yahoo/arf-abuse-complaint.eml'), 'feedback@arf.mail.yahoo.com', ['fbl@shop.example.com']);
    assert.equal(received.length, 2);
    assert.deepEqual(received[0]?.envelope, { mailFrom: '', rcptTo: [VERP] });
    assert.deepEqual(received[1]?.envelope, {
      mailFrom: 'feedback@arf.mail.yahoo.com',
      rcptTo: ['fbl@shop.example.com'],
    });
    const dsn = await parseInboundMessage(received[0]!.raw);
    assert.equal(dsn.kind, 'dsn');
    assert.equal(dsn.kind === 'dsn' && dsn.recipients[0]?.classification.kind, 'hard_bounce');
    const arf = await parseInboundMessage(received[1]!.raw);
    assert.equal(arf.kind, 'complaint');
    assert.equal(logs.filter((l) => l === 'info inbound message accepted').length, 2);
  });

  it('refuses a message over the size limit with 552 and never calls onMessage', async (t) => {
    let calls = 0;
    const { send } = await start(
      t,
      async () => {
        calls += 1;
      },
      2048,
    );
    const big = Buffer.concat([
      Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n\r\n'),
      Buffer.alloc(8192, 'x\r\n'),
    ]);
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
    await assert.rejects(
      send(fixture('exim/text-bounce-550-unrouteable-and-user-unknown.eml')),
      (err: { responseCode?: number; message?: string }) => {
        assert.equal(err.responseCode, 451);
        assert.match(err.message ?? '', /please retry/);
        return true;
      },
    );
    assert.ok(logs.includes('warn inbound message handler failed; asked sender to retry'));
    fail = false;
    await send(fixture('exim/text-bounce-550-unrouteable-and-user-unknown.eml'));
    assert.equal(received.length, 1);
  });

  it(
    'answers 554 (sender stops) when onMessage fails ' + 'in a way that would repeat, 451 only for an outage',
    async (t) => {
      let failure: unknown = Object.assign(new Error('invalid byte sequence'), { code: '22P05' });
      const { send, logs } = await start(t, async () => {
        throw failure;
      });
      await assert.rejects(
        send(fixture('exim/text-bounce-550-unrouteable-and-user-unknown.eml')),
        (err: { responseCode?: number; response?: string }) => {
          assert.equal(err.responseCode, 554);
          assert.equal(err.response, '554 5.3.0 The message cannot be processed');
          return true;
        },
      );
      assert.ok(logs.includes('error inbound message refused: it cannot be stored'));
      failure = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      await assert.rejects(
        send(fixture('exim/text-bounce-550-unrouteable-and-user-unknown.eml')),
        (err: { responseCode?: number }) => err.responseCode === 451,
      );
    },
  );
});

describe('inbound SMTP listener: who may send what (attacks)', () => {
  it(
    'refuses RCPT for an address that is not ours with ' + '550 5.7.1; ours and signed VERP anywhere are accepted',
    async (t) => {
      const received: InboundEnvelope[] = [];
      const { port } = await start(t, async (_raw, envelope) => {
        received.push(envelope);
      });
      const { client } = await openSession(port);
      t.after(() => client.close());
      client.send('MAIL FROM:<>');
      assert.equal((await client.reply()).code, 250);
      for (const foreign of [
        'victim@gmail.example',
        'postmaster@shop.example.com.evil.example',
        'b+aaaaaaaaaaaaaaaaaaaaaaaa@evil.example',
      ]) {
        client.send(`RCPT TO:<${foreign}>`);
        const r = await client.reply();
        assert.equal(r.code, 550, foreign);
        assert.match(r.text, /^5\.7\.1 /);
      }
      client.send(`RCPT TO:<${VERP}>`);
      assert.equal((await client.reply()).code, 250);
      client.send('RCPT TO:<fbl@Shop.Example.com>');
      assert.equal((await client.reply()).code, 250);
      client.send('DATA');
      assert.equal((await client.reply()).code, 354);
      client.write('From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n.\r\n');
      assert.equal((await client.reply()).code, 250);
      assert.deepEqual(
        received.map((e) => e.rcptTo),
        [[VERP, 'fbl@Shop.Example.com']],
      );
    },
  );

  it('10 000 RCPTs in one transaction: only maxRecipients are accepted, the rest get 452 4.5.3', async (t) => {
    const { port } = await start(t, ignore, 64 * 1024, { maxRecipients: 50 });
    const { client } = await openSession(port);
    t.after(() => client.close());
    client.send('MAIL FROM:<>');
    assert.equal((await client.reply()).code, 250);
    const total = 10_000;
    client.write(Array.from({ length: total }, (_, i) => `RCPT TO:<r${i}@bounce.shop.example.com>\r\n`).join(''));
    const codes = new Map<number, number>();
    const texts = new Set<string>();
    for (let i = 0; i < total; i++) {
      const r = await client.reply();
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      if (r.code !== 250) texts.add(r.text);
    }
    assert.deepEqual(Object.fromEntries(codes), { 250: 50, 452: total - 50 });
    assert.deepEqual([...texts], ['4.5.3 Too many recipients']);
  });

  it(
    'a source address gets maxConnectionsPerIp connections; the next is answered 421 and closed, and a freed '
      + 'slot is usable again',
    async (t) => {
      const { port, logs } = await start(t, ignore, 64 * 1024, { maxConnectionsPerIp: 2 });
      const a = await openSession(port);
      const b = await openSession(port);
      t.after(() => {
        a.client.close();
        b.client.close();
      });
      assert.deepEqual([a.greeting.code, b.greeting.code], [220, 220]);
      const c = await connectSmtp(port);
      const refused = await c.reply();
      assert.equal(refused.code, 421);
      assert.match(refused.text, /^4\.7\.0 Too many connections from your address/);
      await c.closed;
      assert.ok(logs.includes('warn inbound connection refused: too many from one address'));
      a.client.send('QUIT');
      await a.client.closed;
      // the server releases the slot when it sees the close; each try is a real connection, no sleep
      let greeting = 0;
      for (let i = 0; i < 50 && greeting !== 220; i++) {
        const d = await openSession(port);
        greeting = d.greeting.code;
        d.client.close();
        await d.client.closed;
      }
      assert.equal(greeting, 220);
    },
  );

  it('at most maxConnections connections in all', async (t) => {
    const { port } = await start(t, ignore, 64 * 1024, { maxConnections: 2, maxConnectionsPerIp: 10 });
    const a = await openSession(port);
    const b = await openSession(port);
    t.after(() => {
      a.client.close();
      b.client.close();
    });
    const c = await connectSmtp(port);
    t.after(() => c.close());
    const refused = await c.reply().catch(() => ({ code: 0, text: 'closed' }));
    assert.equal(refused.code, 421, refused.text);
    assert.match(refused.text, /Too many connected clients/);
    await c.closed;
  });

  it('an idle connection is closed after socketTimeoutMs', async (t) => {
    const { port } = await start(t, ignore, 64 * 1024, { socketTimeoutMs: 200 });
    const { client, greeting } = await openSession(port);
    assert.equal(greeting.code, 220);
    const bye = await client.reply();
    assert.equal(bye.code, 421);
    await client.closed;
  });
});
