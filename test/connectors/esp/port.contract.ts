/**
 * The one contract every Esp adapter passes (STYLE §3). It is written from the port's doc comment
 * in src/connectors/esp/port.ts and talks to the far side only through the harness: what the peer
 * received, which address it refuses, and fault switches (throttle, temporary failure). A new edge
 * case belongs here, not in one adapter's test.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Correlation, Esp, OutboundMessage } from '../../../src/connectors/esp/port.ts';
import type { SwitchyardError } from '../../../src/core/errors.ts';

/** A message as the peer saw it, normalised by the harness from the peer's own wire format. */
export interface ReceivedMessage {
  to: string;
  from: string;
  subject: string;
  messageId: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  correlation: Correlation;
  /** Files as the peer decoded them from its wire format (absent when the harness cannot read bytes back). */
  attachments?: ReceivedAttachment[];
}

export interface ReceivedAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface EspHarness {
  esp: Esp;
  /** Everything the peer accepted so far, in arrival order. */
  received(): Promise<ReceivedMessage[]>;
  /** Messages per request the peer saw, in arrival order (SMTP: one per transaction). */
  requestSizes(): number[];
  /** An address the peer refuses permanently. */
  refusedAddress: string;
  /** The peer answers the next n requests with throttling (Retry-After when it can carry one). */
  throttleNext(n: number, retryAfterSec?: number): void;
  /** The peer answers the next n requests with a temporary failure. */
  failNext(n: number): void;
  /** True when the peer's throttle answer can carry a Retry-After (HTTP, sandbox; not SMTP). */
  reportsRetryAfter: boolean;
  /** A second Esp for the same peer built with wrong credentials (closed by close()). */
  withBadCredentials(): Promise<Esp>;
  /** Why the harness cannot read attachment bytes back, when it cannot (the contract then skips them). */
  attachmentsUnreadable?: string;
  /** Closes the Esp(s) and the peer. */
  close(): Promise<void>;
}

let seq = 0;

/** Builds a message; every call gets a fresh recipient, Message-ID and ledger id. */
export function aMessage(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  const n = ++seq;
  const contactId = `contact-${n}`;
  return {
    messageId: `m${n}.camp-1@mail.example.test`,
    from: { address: 'news@mail.example.test', name: 'Example News' },
    to: { address: `user${n}@inbox.example.test` },
    subject: 'Autumn offers',
    text: 'Hello, here are the offers: https://shop.example.test/autumn',
    html: '<p>Hello, here are the <a href="https://shop.example.test/autumn">offers</a></p>',
    headers: {
      'List-Unsubscribe': '<https://u.example.test/unsub/camp-1>, <mailto:unsub@mail.example.test>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    returnPath: `bounce+m${n}@mail.example.test`,
    correlation: { campaignId: 'camp-1', contactId, ledgerId: `camp-1:${contactId}` },
    tags: ['autumn'],
    ...overrides,
  };
}

function asError(e: unknown): SwitchyardError {
  assert.ok(
    e !== null && typeof e === 'object' && (e as { name?: unknown }).name === 'SwitchyardError',
    `expected a SwitchyardError, got ${String(e)}`,
  );
  return e as SwitchyardError;
}

async function rejection(p: Promise<unknown>): Promise<SwitchyardError> {
  return asError(
    await p.then(
      () => assert.fail('expected the send to fail'),
      (e: unknown) => e,
    ),
  );
}

export function espContract(label: string, setup: () => Promise<EspHarness>): void {
  it(`${label}: a message arrives once with its subject, addresses, headers and correlation`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    const msg = aMessage();
    const receipt = await h.esp.send(msg);
    assert.ok(receipt.providerMessageId.length > 0);
    assert.ok(receipt.acceptedAt instanceof Date);
    const got = (await h.received()).filter((r) => r.to === msg.to.address);
    assert.equal(got.length, 1);
    const r = got[0]!;
    assert.equal(r.subject, msg.subject);
    assert.equal(r.from, msg.from.address);
    assert.equal(r.messageId, msg.messageId);
    assert.equal(r.headers['list-unsubscribe'], msg.headers['List-Unsubscribe']);
    assert.equal(r.headers['list-unsubscribe-post'], 'List-Unsubscribe=One-Click');
    assert.deepEqual(r.correlation, msg.correlation);
  });

  it(`${label}: sendBatch returns one result per message, in order, in requests of at most maxBatchSize`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    const max = h.esp.maxBatchSize;
    assert.ok(Number.isInteger(max) && max >= 1);
    const messages = Array.from({ length: Math.min(max, 1000) + 2 }, () => aMessage());
    const results = await h.esp.sendBatch(messages);
    assert.equal(results.length, messages.length);
    for (const r of results) assert.ok(r.ok, r.ok ? '' : `${r.error.code}: ${r.error.message}`);
    const got = await h.received();
    messages.forEach((m) => {
      const mine = got.filter((r) => r.to === m.to.address);
      assert.equal(mine.length, 1, `${m.to.address} received ${mine.length} times`);
      assert.deepEqual(mine[0]!.correlation, m.correlation);
      assert.equal(mine[0]!.messageId, m.messageId);
    });
    const sizes = h.requestSizes();
    assert.ok(sizes.length >= 2, 'the batch was split into several requests');
    assert.ok(
      sizes.every((s) => s <= max),
      `request sizes ${sizes.join(',')} exceed ${max}`,
    );
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      messages.length,
    );
    assert.deepEqual(await h.esp.sendBatch([]), []);
  });

  it(`${label}: a refused recipient is a permanent ESP_RECIPIENT_REJECTED, alone in its batch`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    const err = await rejection(h.esp.send(aMessage({ to: { address: h.refusedAddress } })));
    assert.equal(err.code, 'ESP_RECIPIENT_REJECTED');
    assert.equal(err.retryable, false);
    assert.ok(err.details !== undefined, 'vendor status kept in details');

    const batch = [aMessage(), aMessage({ to: { address: h.refusedAddress } }), aMessage()];
    const results = await h.esp.sendBatch(batch);
    assert.equal(results.length, 3);
    assert.ok(results[0]!.ok && results[2]!.ok);
    const bad = results[1]!;
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'ESP_RECIPIENT_REJECTED');
    const got = await h.received();
    assert.ok(got.some((r) => r.to === batch[0]!.to.address));
    assert.ok(got.some((r) => r.to === batch[2]!.to.address));
  });

  it(`${label}: throttling is a retryable ESP_RATE_LIMITED carrying Retry-After`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    h.throttleNext(1, 7);
    const err = await rejection(h.esp.send(aMessage()));
    assert.equal(err.code, 'ESP_RATE_LIMITED');
    assert.equal(err.retryable, true);
    if (h.reportsRetryAfter) assert.equal(err.retryAfterMs, 7000);
    await h.esp.send(aMessage());

    h.throttleNext(1);
    const results = await h.esp.sendBatch([aMessage(), aMessage()]);
    assert.equal(results.length, 2);
    const limited = results.filter((r) => !r.ok);
    assert.ok(limited.length >= 1, 'the throttled request is reported, not thrown');
    for (const r of limited) if (!r.ok) assert.equal(r.error.code, 'ESP_RATE_LIMITED');
  });

  it(`${label}: a temporary failure is a retryable ESP_UNAVAILABLE`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    h.failNext(1);
    const err = await rejection(h.esp.send(aMessage()));
    assert.equal(err.code, 'ESP_UNAVAILABLE');
    assert.equal(err.retryable, true);
    const after = aMessage();
    await h.esp.send(after);
    assert.equal((await h.received()).filter((r) => r.to === after.to.address).length, 1);
  });

  it(`${label}: bad credentials are ESP_AUTH_FAILED, for send and for every message of a batch`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    const bad = await h.withBadCredentials();
    const err = await rejection(bad.send(aMessage()));
    assert.equal(err.code, 'ESP_AUTH_FAILED');
    assert.equal(err.retryable, false);
    const results = await bad.sendBatch([aMessage(), aMessage()]);
    assert.equal(results.length, 2);
    for (const r of results) assert.ok(!r.ok && r.error.code === 'ESP_AUTH_FAILED');
    assert.equal((await h.received()).length, 0);
  });

  it(`${label}: attached files arrive byte for byte, with their names and types, alone and batched`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    if (h.esp.supportsAttachments !== true) return t.skip('the adapter does not send attachments');
    if (h.attachmentsUnreadable !== undefined) return t.skip(h.attachmentsUnreadable);
    const pdf = Buffer.concat([
      Buffer.from('%PDF-1.4\n'),
      Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256)),
    ]);
    const csv = Buffer.from('campaign;revenue\nautumn;1234.50\nnoël;0\n', 'utf8');
    const files = [
      { filename: 'report-2026-12-07.pdf', contentType: 'application/pdf', contentBase64: pdf.toString('base64') },
      { filename: 'figures.csv', contentType: 'text/csv', contentBase64: csv.toString('base64') },
    ];
    const alone = aMessage({ attachments: files });
    await h.esp.send(alone);
    // two messages with the files and one without: the files reach only the two
    const batch = [aMessage({ attachments: files }), aMessage(), aMessage({ attachments: files })];
    const results = await h.esp.sendBatch(batch);
    assert.ok(results.every((r) => r.ok));
    const received = await h.received();
    for (const m of [alone, ...batch]) {
      const got = received.filter((r) => r.to === m.to.address);
      assert.equal(got.length, 1);
      const att = got[0]!.attachments ?? [];
      assert.equal(att.length, m.attachments?.length ?? 0, m.to.address);
      for (const [i, a] of att.entries()) {
        assert.equal(a.filename, files[i]!.filename);
        assert.equal(a.contentType.split(';')[0], files[i]!.contentType);
        assert.ok(a.content.equals(i === 0 ? pdf : csv), `${a.filename} differs from what was sent`);
      }
    }
  });

  it(`${label}: files over maxAttachmentBytes are a permanent ESP_MESSAGE_REJECTED before any request`, async (t) => {
    const h = await setup();
    t.after(() => h.close());
    const max = h.esp.maxAttachmentBytes;
    if (h.esp.supportsAttachments !== true || max === undefined) return t.skip('the adapter declares no cap');
    const big = { filename: 'big.pdf', contentType: 'application/pdf', contentBase64: 'AAAA'.repeat(max / 4 + 1) };
    const err = await rejection(h.esp.send(aMessage({ attachments: [big] })));
    assert.equal(err.code, 'ESP_MESSAGE_REJECTED');
    assert.equal(err.retryable, false);
    assert.match(err.message, new RegExp(String(max)));
    const fits = aMessage();
    const results = await h.esp.sendBatch([aMessage({ attachments: [big] }), fits]);
    assert.ok(!results[0]!.ok && results[0]!.error.code === 'ESP_MESSAGE_REJECTED');
    assert.ok(results[1]!.ok);
    assert.deepEqual(
      (await h.received()).map((r) => r.to),
      [fits.to.address],
    );
  });

  it(`${label}: close() releases every connection and can be called twice`, async () => {
    const h = await setup();
    await h.esp.send(aMessage());
    await h.esp.close();
    await h.esp.close();
    await h.close();
    // The runner would hang on a leaked listener; this makes the cause visible sooner. A closed
    // handle leaves the list a loop turn or two after its close callback, so give it a few turns.
    const listening = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    for (let turn = 0; turn < 50 && listening() > 0; turn++) await new Promise((r) => setImmediate(r));
    assert.equal(listening(), 0, 'a listening socket was left open');
  });
}
