/**
 * The SMTP Esp against a real smtp-server (test/support/smtp-sink.ts): the shared contract, then
 * SMTP-only behaviour (VERP envelope, DKIM signature that verifies, reply-code mapping).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth';
import { createManualClock } from '../../../../src/clock/manual.ts';
import { createSmtpEsp } from '../../../../src/connectors/esp/smtp/adapter.ts';
import type { SmtpEspOptions } from '../../../../src/connectors/esp/smtp/adapter.ts';
import { mapSmtpError } from '../../../../src/connectors/esp/smtp/smtp-errors.ts';
import type { BatchResult, Esp, OutboundMessage } from '../../../../src/connectors/esp/port.ts';
import { startSmtpSink } from '../../../support/smtp-sink.ts';
import type { SmtpSink } from '../../../support/smtp-sink.ts';
import { aMessage, espContract } from '../port.contract.ts';
import type { EspHarness, ReceivedMessage } from '../port.contract.ts';

const REFUSED = 'nobody@inbox.example.test';
const AUTH = { user: 'relay-user', pass: 'relay-pass' };

function headerMap(lines: readonly { key: string; line: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, line } of lines) {
    out[key.toLowerCase()] = line
      .slice(line.indexOf(':') + 1)
      .replace(/\r?\n([ \t])/g, '$1')
      .trim();
  }
  return out;
}

export async function receivedFromSink(sink: SmtpSink): Promise<ReceivedMessage[]> {
  const parsed = await sink.parsed();
  return parsed.map((p) => {
    const headers = headerMap(p.headerLines);
    return {
      to: sink.messages()[parsed.indexOf(p)]!.envelope.rcptTo[0] ?? '',
      from: (Array.isArray(p.from) ? p.from[0] : p.from)?.value[0]?.address ?? '',
      subject: p.subject ?? '',
      messageId: (p.messageId ?? '').replace(/^<|>$/g, ''),
      headers,
      correlation: {
        campaignId: headers['x-switchyard-campaign'] ?? '',
        contactId: headers['x-switchyard-contact'] ?? '',
        ledgerId: headers['x-switchyard-msg'] ?? '',
      },
      attachments: p.attachments.map((a) => ({
        filename: a.filename ?? '',
        contentType: a.contentType,
        content: a.content,
      })),
    };
  });
}

function optionsFor(sink: SmtpSink, over: Partial<SmtpEspOptions> = {}): SmtpEspOptions {
  return {
    host: sink.host,
    port: sink.port,
    auth: AUTH,
    pool: { maxConnections: 3, maxMessages: 50 },
    name: 'mta.example.test',
    ...over,
  };
}

async function smtpHarness(): Promise<EspHarness> {
  const sink = await startSmtpSink({ refuse: [REFUSED], authRequired: AUTH });
  const clock = createManualClock();
  const esp = createSmtpEsp({ clock }, optionsFor(sink));
  const extra: Esp[] = [];
  return {
    esp,
    received: () => receivedFromSink(sink),
    requestSizes: () => sink.messages().map(() => 1),
    refusedAddress: REFUSED,
    throttleNext: (n) => sink.throttleNext(n),
    failNext: (n) => sink.failNext(n),
    reportsRetryAfter: false,
    async withBadCredentials() {
      const bad = createSmtpEsp({ clock }, optionsFor(sink, { auth: { user: AUTH.user, pass: 'wrong' } }));
      extra.push(bad);
      return bad;
    },
    async close() {
      await esp.close();
      for (const e of extra) await e.close();
      await sink.close();
    },
  };
}

describe('smtp esp', () => {
  espContract('smtp', smtpHarness);

  it('uses the VERP return path as envelope sender and keeps our Message-ID', async (t) => {
    const sink = await startSmtpSink();
    const esp = createSmtpEsp({ clock: createManualClock() }, optionsFor(sink, { auth: undefined }));
    t.after(async () => {
      await esp.close();
      await sink.close();
    });
    const msg = aMessage({ returnPath: 'b+tok123@bounce.example.test' });
    const receipt = await esp.send(msg);
    assert.equal(receipt.providerMessageId, msg.messageId);
    assert.equal(sink.messages()[0]!.envelope.mailFrom, 'b+tok123@bounce.example.test');
    assert.deepEqual(sink.messages()[0]!.envelope.rcptTo, [msg.to.address]);
    const [p] = await sink.parsed();
    assert.equal(p!.messageId, `<${msg.messageId}>`);
    assert.equal(
      sink
        .messages()[0]!
        .raw.toString('latin1')
        .match(/^Message-ID:/gim)?.length,
      1,
      'one Message-ID header',
    );
    assert.equal(p!.text?.trim(), msg.text);
  });

  /** A DKIM-signing SMTP Esp to a fresh sink, and a verifier that answers the key's DNS look-up. */
  async function dkimSetup(t: { after(fn: () => Promise<void>): void }) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const sink = await startSmtpSink();
    const esp = createSmtpEsp(
      { clock: createManualClock() },
      optionsFor(sink, {
        auth: undefined,
        dkim: { domainName: 'mail.example.test', keySelector: 'sy1', privateKey: pem },
      }),
    );
    t.after(async () => {
      await esp.close();
      await sink.close();
    });
    const lookups: string[] = [];
    const verify = (raw: Buffer) =>
      dkimVerify(raw, {
        resolver: async (name: string, type: string) => {
          lookups.push(`${type} ${name}`);
          if (type === 'TXT' && name === 'sy1._domainkey.mail.example.test') return [[`v=DKIM1; k=rsa; p=${p}`]];
          throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
        },
      });
    return { sink, esp, verify, lookups };
  }

  it('signs with DKIM so that a verifier passes the signature', async (t) => {
    const { sink, esp, verify, lookups } = await dkimSetup(t);
    await esp.send(aMessage());
    const raw = sink.messages()[0]!.raw;
    assert.match(raw.toString('utf8'), /^DKIM-Signature: /m);
    const result = await verify(raw);
    assert.deepEqual(lookups, ['TXT sy1._domainkey.mail.example.test']);
    const sig = result.results[0];
    assert.equal(sig?.signingDomain, 'mail.example.test');
    assert.equal(sig?.status.result, 'pass', JSON.stringify(sig?.status));
  });

  it('delivers awkward content intact and DKIM-signed: dot lines, lone CR/LF, long and non-ASCII lines', async (t) => {
    const { sink, esp, verify } = await dkimSetup(t);
    const text = `.\n..two dots\n.\r\nlone cr\rlone lf\n${'y'.repeat(1200)}\n. \nend`;
    const html = `<p>Grüße</p>\n.\n<p>${'z'.repeat(1000)}</p>`;
    await esp.send(
      aMessage({
        subject: 'Grüße aus Köln — ein Betreff',
        from: { address: 'news@mail.example.test', name: 'Zeitung Köln' },
        text,
        html,
      }),
    );
    const result = await verify(sink.messages()[0]!.raw);
    assert.equal(result.results[0]?.status.result, 'pass', JSON.stringify(result.results[0]?.status));
    const [parsed] = await sink.parsed();
    const lf = (s: string): string => s.replace(/\r\n|\r|\n/g, '\n');
    assert.equal(parsed!.subject, 'Grüße aus Köln — ein Betreff');
    assert.deepEqual((Array.isArray(parsed!.from) ? parsed!.from[0] : parsed!.from)?.value, [
      { address: 'news@mail.example.test', name: 'Zeitung Köln' },
    ]);
    assert.equal(lf(parsed!.text ?? ''), lf(text));
    assert.equal(lf(parsed!.html || ''), lf(html));
  });

  it('an unreachable server is a retryable ESP_UNAVAILABLE', async (t) => {
    const sink = await startSmtpSink();
    const port = sink.port;
    await sink.close();
    const esp = createSmtpEsp(
      { clock: createManualClock() },
      { host: '127.0.0.1', port, pool: { maxConnections: 1, maxMessages: 10 } },
    );
    t.after(() => esp.close());
    const err = (await esp.send(aMessage()).catch((e: unknown) => e)) as { code: string; retryable: boolean };
    assert.equal(err.code, 'ESP_UNAVAILABLE');
    assert.equal(err.retryable, true);
  });

  it('maps reply codes: 5.1.x recipient, 552/554 and 5.7.x message, 4.7.x rate, other 4xx unavailable', () => {
    const cases: [number, string, string, boolean][] = [
      [550, '550 5.1.1 user unknown', 'ESP_RECIPIENT_REJECTED', false],
      [551, '551 user not local', 'ESP_RECIPIENT_REJECTED', false],
      [553, '553 5.1.3 bad address syntax', 'ESP_RECIPIENT_REJECTED', false],
      [552, '552 5.3.4 message too big', 'ESP_MESSAGE_REJECTED', false],
      [554, '554 5.6.0 content rejected', 'ESP_MESSAGE_REJECTED', false],
      [550, '550 5.7.1 blocked by policy', 'ESP_MESSAGE_REJECTED', false],
      [535, '535 5.7.8 bad credentials', 'ESP_AUTH_FAILED', false],
      [421, '421 4.7.0 try again later', 'ESP_RATE_LIMITED', true],
      [451, '451 4.7.650 rate limited due to IP reputation', 'ESP_RATE_LIMITED', true],
      [450, '450 4.2.1 receiving too quickly', 'ESP_UNAVAILABLE', true],
      [452, '452 4.5.3 too many recipients', 'ESP_UNAVAILABLE', true],
      [451, '451 4.4.2 timeout', 'ESP_UNAVAILABLE', true],
    ];
    for (const [responseCode, response, code, retryable] of cases) {
      const err = mapSmtpError({ responseCode, response, command: 'RCPT TO' });
      assert.equal(err.code, code, response);
      assert.equal(err.retryable, retryable, response);
      assert.equal(err.details?.['smtpCode'], responseCode);
    }
    const conn = mapSmtpError({ code: 'ECONNECTION', message: 'connect ECONNREFUSED' });
    assert.equal(conn.code, 'ESP_UNAVAILABLE');
    assert.equal(mapSmtpError({ responseCode: 550, response: '550 5.1.1 x' }).details?.['enhanced'], '5.1.1');
  });
});

describe('smtp esp: commit point before the final dot', () => {
  it('calls beforeCommit once per message, before the server accepts it', async (t) => {
    const sink = await startSmtpSink();
    const esp = createSmtpEsp({ clock: createManualClock() }, optionsFor(sink));
    t.after(async () => {
      await esp.close();
      await sink.close();
    });
    const seenAtCommit: number[] = [];
    const results = await esp.sendBatch(
      [aMessage({ to: { address: 'a@inbox.example.test' } }), aMessage({ to: { address: 'b@inbox.example.test' } })],
      {
        beforeCommit: async () => {
          seenAtCommit.push(sink.count());
        },
      },
    );
    assert.ok(results.every((r) => r.ok));
    assert.equal(seenAtCommit.length, 2);
    assert.ok(
      seenAtCommit.every((n) => n < 2),
      'the server had not accepted the message when the hook ran',
    );
    assert.equal(sink.count(), 2);
  });

  it('a refused commit withholds the final dot: the server never accepts that message', async (t) => {
    const sink = await startSmtpSink();
    const esp = createSmtpEsp({ clock: createManualClock() }, optionsFor(sink));
    t.after(async () => {
      await esp.close();
      await sink.close();
    });
    const [refused, ok] = await esp.sendBatch(
      [aMessage({ to: { address: 'no@inbox.example.test' } }), aMessage({ to: { address: 'yes@inbox.example.test' } })],
      {
        beforeCommit: async (msg) => {
          if (msg.to.address.startsWith('no@')) throw new Error('ledger claim lost');
        },
      },
    );
    assert.equal(refused!.ok, false);
    assert.equal(!refused!.ok && refused!.error.code, 'ESP_UNAVAILABLE');
    assert.equal(!refused!.ok && refused!.error.retryable, true);
    assert.match(!refused!.ok ? refused!.error.message : '', /withheld before the final dot: ledger claim lost/);
    assert.equal(ok!.ok, true);
    assert.deepEqual(
      sink.messages().map((m) => m.envelope.rcptTo[0]),
      ['yes@inbox.example.test'],
    );
  });
});

describe('smtp esp: the commit overlaps the transfer inside a bounded window', () => {
  /** Messages of one shape and one byte length (fixed-width ids), so one reference size fits all. */
  const sameSize = (i: number, text: string): OutboundMessage =>
    aMessage({
      messageId: `w${String(i).padStart(3, '0')}.camp-1@mail.example.test`,
      to: { address: `u${String(i).padStart(3, '0')}@inbox.example.test` },
      returnPath: `bounce+w${String(i).padStart(3, '0')}@mail.example.test`,
      correlation: {
        campaignId: 'camp-1',
        contactId: `c${String(i).padStart(3, '0')}`,
        ledgerId: `camp-1:c${String(i).padStart(3, '0')}`,
      },
      text,
    });
  /** 300 kB of body: far more than any stream buffer, so it really is on the wire while the commit waits. */
  const BIG_TEXT = Array.from({ length: 4000 }, (_, i) => `line ${String(i).padStart(4, '0')} ${'x'.repeat(64)}`).join(
    '\n',
  );

  it(
    'starts beforeCommit before the body is written, and ' + 'the server gets the message only once it resolved',
    async (t) => {
      const sink = await startSmtpSink();
      const esp = createSmtpEsp(
        { clock: createManualClock() },
        optionsFor(sink, { auth: undefined, pool: { maxConnections: 1, maxMessages: 50 } }),
      );
      t.after(async () => {
        await esp.close();
        await sink.close();
      });
      await esp.send(sameSize(0, BIG_TEXT));
      const size = sink.messages()[0]!.raw.length;
      assert.ok(size > 300_000, `reference message is ${size} bytes`);

      let release!: () => void;
      let bytesAtCommit = -1;
      const commitStarted = new Promise<void>((started) => {
        void esp
          .sendBatch([sameSize(1, BIG_TEXT)], {
            beforeCommit: () => {
              bytesAtCommit = sink.dataBytes() - size;
              started();
              return new Promise<void>((resolve) => {
                release = resolve;
              });
            },
          })
          .then((results) => {
            finished(results);
          });
      });
      let finished!: (r: BatchResult[]) => void;
      const results = new Promise<BatchResult[]>((resolve) => {
        finished = resolve;
      });
      await commitStarted;
      assert.ok(
        bytesAtCommit >= 0 && bytesAtCommit < size,
        `the commit started with ${bytesAtCommit} of ${size} body bytes at the server`,
      );
      // the whole message is at the server but for the final dot (smtp-server passes on a message's
      // last 4 bytes only once it has seen whether the terminator follows them)
      await sink.waitForDataBytes(2 * size - 4);
      assert.equal(sink.count(), 1, 'the server does not have the message while beforeCommit is pending');
      release();
      const [res] = await results;
      assert.equal(res!.ok, true);
      assert.equal(sink.count(), 2);
      assert.equal(sink.messages()[1]!.raw.length, size);
    },
  );

  it('never has more messages committed but not yet accepted than the window', async (t) => {
    const WINDOW = 3;
    const COUNT = 12;
    const sink = await startSmtpSink();
    const esp = createSmtpEsp(
      { clock: createManualClock() },
      optionsFor(sink, { auth: undefined, pool: { maxConnections: 2, maxMessages: 50 }, commitWindow: WINDOW }),
    );
    t.after(async () => {
      await esp.close();
      await sink.close();
    });
    await esp.send(sameSize(999, 'short body'));
    const size = sink.messages()[0]!.raw.length;
    let started = 0;
    let resolved = 0;
    let accepted = 0;
    let maxStartedNotAccepted = 0;
    let maxResolvedNotAccepted = 0;
    let holding = true;
    const held: (() => void)[] = [];
    let windowFull!: () => void;
    const full = new Promise<void>((resolve) => {
      windowFull = resolve;
    });
    const resolveOne = (done: () => void): void => {
      resolved++;
      maxResolvedNotAccepted = Math.max(maxResolvedNotAccepted, resolved - accepted);
      done();
    };
    const pending = esp.sendBatch(
      Array.from({ length: COUNT }, (_, i) => sameSize(i, 'short body')),
      {
        beforeCommit: () => {
          started++;
          maxStartedNotAccepted = Math.max(maxStartedNotAccepted, started - accepted);
          if (started === WINDOW) windowFull();
          return new Promise<void>((resolve) => {
            if (holding) held.push(resolve);
            else resolveOne(resolve);
          });
        },
        afterAccepted: () => {
          accepted++;
        },
      },
    );
    await full;
    // both connections have carried their message's body (all but the dot) by now; the window
    // still admits no one
    await sink.waitForDataBytes(size + 2 * (size - 4));
    assert.equal(started, WINDOW, 'no message beyond the window started its commit');
    assert.equal(sink.count(), 1, 'only the reference message was accepted');
    holding = false;
    for (const done of held.splice(0)) resolveOne(done);
    const results = await pending;
    assert.ok(results.every((r) => r.ok));
    assert.equal(sink.count(), COUNT + 1);
    assert.equal(started, COUNT, 'beforeCommit ran once per message');
    assert.ok(
      maxResolvedNotAccepted <= WINDOW,
      `at most ${WINDOW} committed but not accepted, saw ${maxResolvedNotAccepted}`,
    );
    assert.ok(
      maxStartedNotAccepted <= WINDOW,
      `at most ${WINDOW} commits started but not accepted, saw ${maxStartedNotAccepted}`,
    );
    assert.equal(maxStartedNotAccepted, WINDOW, 'the window was used in full');
  });

  it('a message waiting for the window fails ESP_UNAVAILABLE when the Esp closes', async (t) => {
    const sink = await startSmtpSink();
    const esp = createSmtpEsp(
      { clock: createManualClock() },
      optionsFor(sink, { auth: undefined, pool: { maxConnections: 1, maxMessages: 50 }, commitWindow: 1 }),
    );
    t.after(() => sink.close());
    let release!: () => void;
    let started!: () => void;
    const first = new Promise<void>((resolve) => {
      started = resolve;
    });
    const pending = esp.sendBatch([aMessage(), aMessage()], {
      beforeCommit: () => {
        started();
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    await first;
    await esp.close();
    release();
    const [, waiting] = await pending;
    assert.equal(waiting!.ok, false);
    assert.equal(!waiting!.ok && waiting!.error.code, 'ESP_UNAVAILABLE');
    assert.match(!waiting!.ok ? waiting!.error.message : '', /closed/);
  });
});
