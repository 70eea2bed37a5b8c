/**
 * The governor's latency signal is the provider's own answer time: a real SMTP server on a
 * manual clock, the SMTP Esp, reportResults and the governor. Time spent in our own queues (a
 * slow commit before the final dot, messages waiting for the one pooled connection, a long
 * chunk) must not slow a receiver down; a server slow to answer must.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createManualClock } from '../../src/clock/manual.ts';
import type { ManualClock } from '../../src/clock/manual.ts';
import { createSendGridEsp } from '../../src/connectors/esp/sendgrid/adapter.ts';
import { createSmtpEsp } from '../../src/connectors/esp/smtp/adapter.ts';
import { createGovernor } from '../../src/deliverability/governor.ts';
import type { GovernorAlert } from '../../src/deliverability/governor.ts';
import { reportResults } from '../../src/deliverability/send-admission.ts';
import { aMessage } from '../connectors/esp/port.contract.ts';
import { startFakeHttp } from '../support/fake-http.ts';

/** An SMTP server that lets `answerDelayMs` of clock time pass between the final dot and its 250. */
async function slowServer(
  clock: ManualClock,
  answerDelayMs: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onData(stream, _session, cb) {
      stream.resume();
      stream.on('end', () => {
        void clock.advance(answerDelayMs).then(() => cb(null, '2.0.0 Ok'));
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const messages = ['a@gmail.com', 'b@gmail.com', 'c@gmail.com'].map((to, i) =>
  aMessage({ to: { address: to }, from: { address: 'news@acme.io' }, messageId: `m${i}@acme.io` }),
);

async function sendThroughGovernor(answerDelayMs: number, commitDelayMs: number) {
  const clock = createManualClock();
  const server = await slowServer(clock, answerDelayMs);
  const esp = createSmtpEsp(
    { clock },
    { host: '127.0.0.1', port: server.port, pool: { maxConnections: 1, maxMessages: 100 }, commitWindow: 1 },
  );
  try {
    const alerts: GovernorAlert[] = [];
    const governor = createGovernor({ clock, onAlert: (a) => alerts.push(a) }, {});
    const before = clock.now().getTime();
    const results = await esp.sendBatch(messages, {
      // a slow ledger commit: our time, before and while the final dot waits
      beforeCommit: () => clock.advance(commitDelayMs),
    });
    const chunkMs = clock.now().getTime() - before;
    reportResults(governor, 'smtp', 'c1', messages, results);
    const group = governor.status().receivingGroups.find((g) => g.scope.sendingDomain === 'acme.io');
    return { results, alerts, rate: group?.ratePerSec, chunkMs };
  } finally {
    await esp.close();
    await server.close();
  }
}

describe('governor latency signal', () => {
  it('a slow queue in front of a fast provider does not reduce the rate', async () => {
    const { results, alerts, rate, chunkMs } = await sendThroughGovernor(0, 20_000);
    assert.ok(chunkMs >= 60_000, `the chunk took ${chunkMs} ms of clock time, far above the 10 s target`);
    for (const r of results) {
      assert.equal(r.ok, true);
      assert.ok(r.latencyMs !== undefined && r.latencyMs < 10_000, `latency ${r.latencyMs} counts our own queue`);
    }
    assert.deepEqual(
      alerts.filter((a) => a.kind === 'rate_reduced'),
      [],
    );
    assert.equal(rate, 50);
  });

  it('a provider slow to answer reduces the rate', async () => {
    const { results, alerts, rate } = await sendThroughGovernor(15_000, 0);
    for (const r of results) assert.ok(r.latencyMs !== undefined && r.latencyMs >= 15_000, `latency ${r.latencyMs}`);
    const reduced = alerts.filter((a) => a.kind === 'rate_reduced');
    assert.equal(reduced.length, 1);
    assert.match(reduced[0]!.reason, /latency 1\d{4} ms above target/);
    assert.equal(rate, 45);
  });

  it('over HTTP each message carries the time of its own request, not of those queued before it', async () => {
    const clock = createManualClock();
    // each request takes 4 s of clock time at the provider
    const api = await startFakeHttp(async () => {
      await clock.advance(4_000);
      return { status: 202, headers: { 'x-message-id': 'sg-1' } };
    });
    const esp = createSendGridEsp(
      { clock },
      { baseUrl: api.baseUrl, apiKey: 'SG.test', maxBatchSize: 1, concurrency: 1 },
    );
    try {
      const results = await esp.sendBatch(messages);
      // one request after the other: the third waited 8 s in our queue, which is not its latency
      assert.deepEqual(
        results.map((r) => r.latencyMs),
        [4_000, 4_000, 4_000],
      );
    } finally {
      await esp.close();
      await api.close();
    }
  });
});
