/**
 * Failover between two ESPs behind the one Esp port. New batches go to the primary; when its
 * last `failureThreshold` requests in a row failed as a whole with ESP_UNAVAILABLE or
 * ESP_AUTH_FAILED, new batches go to the secondary until `coolDownMs` of clock time has passed,
 * then back to the primary. A batch goes to exactly one ESP: a message whose attempt failed is
 * returned failed (retryable as the adapter said), never handed to the other ESP here — the send
 * stage re-claims it on the chunk retry, which then goes to whichever ESP is active. So one
 * message can never be accepted by both.
 *
 * `name` is the ESP currently routed to (it keys the ledger claim and the governor's provider
 * budget); `commitPoint` is the weaker of the two ('before-final-dot' only if both are), and
 * hooks are passed through only then.
 */
import type { Clock } from '../clock/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { BatchResult, Esp, OutboundMessage, SendHooks, SendReceipt } from '../connectors/esp/port.ts';

export interface FailoverOptions {
  clock: Clock;
  /** Whole-request failures of the primary in a row that switch to the secondary (default 3). */
  failureThreshold?: number;
  /** How long the secondary stays active before the primary is tried again (default 5 min). */
  coolDownMs?: number;
  /** Called on every switch (logging, metrics); must not throw. */
  onSwitch?(to: 'primary' | 'secondary', reason: string): void;
}

export interface FailoverEsp extends Esp {
  /** Which ESP new batches go to now. */
  active(): 'primary' | 'secondary';
}

const OUTAGE_CODES = new Set(['ESP_UNAVAILABLE', 'ESP_AUTH_FAILED']);

export function createFailoverEsp(primary: Esp, secondary: Esp, options: FailoverOptions): FailoverEsp {
  const threshold = options.failureThreshold ?? 3;
  const coolDownMs = options.coolDownMs ?? 5 * 60_000;
  if (!(Number.isInteger(threshold) && threshold >= 1))
    throw new SwitchyardError('CONFIG_INVALID', `failover failureThreshold must be an integer >= 1 (got ${threshold})`);
  if (!(coolDownMs > 0))
    throw new SwitchyardError('CONFIG_INVALID', `failover coolDownMs must be > 0 (got ${coolDownMs})`);
  const both = primary.commitPoint === 'before-final-dot' && secondary.commitPoint === 'before-final-dot';
  let failuresInRow = 0;
  let secondaryUntil = 0;
  let lastRoute: 'primary' | 'secondary' = 'primary';

  function route(): 'primary' | 'secondary' {
    const now = options.clock.now().getTime();
    const r = now < secondaryUntil ? 'secondary' : 'primary';
    if (r !== lastRoute) {
      if (r === 'primary') failuresInRow = 0;
      lastRoute = r;
      options.onSwitch?.(r, r === 'primary' ? `cool-down of ${coolDownMs} ms over` : 'primary failing');
    }
    return r;
  }

  /** Learns from one primary request: all messages failed with an outage code, or not. */
  function observe(results: readonly BatchResult[]): void {
    if (results.length === 0) return;
    const outage = results.every((r) => !r.ok && OUTAGE_CODES.has(r.error.code));
    if (!outage) {
      failuresInRow = 0;
      return;
    }
    failuresInRow++;
    if (failuresInRow >= threshold && lastRoute === 'primary') {
      const first = results[0] as { ok: false; error: SwitchyardError };
      secondaryUntil = options.clock.now().getTime() + coolDownMs;
      lastRoute = 'secondary';
      options.onSwitch?.(
        'secondary',
        `${failuresInRow} primary request(s) in a row failed: ${first.error.code}: ${first.error.message}`,
      );
    }
  }

  return {
    get name() {
      return route() === 'primary' ? primary.name : secondary.name;
    },
    commitPoint: both ? 'before-final-dot' : 'before-request',
    maxBatchSize: Math.min(primary.maxBatchSize, secondary.maxBatchSize),
    // a message may go to either: attach only when both send attachments
    supportsAttachments: primary.supportsAttachments === true && secondary.supportsAttachments === true,
    ...smallerCap(primary.maxAttachmentBytes, secondary.maxAttachmentBytes),
    active: route,
    async send(msg: OutboundMessage): Promise<SendReceipt> {
      const [res] = await this.sendBatch([msg]);
      if (res!.ok) return res!.receipt;
      throw res!.error;
    },
    async sendBatch(messages: readonly OutboundMessage[], hooks?: SendHooks): Promise<BatchResult[]> {
      if (messages.length === 0) return [];
      const r = route();
      const passHooks = both ? hooks : undefined;
      if (r === 'secondary') return secondary.sendBatch(messages, passHooks);
      const results = await primary.sendBatch(messages, passHooks);
      observe(results);
      return results;
    },
    async close() {
      await Promise.all([primary.close(), secondary.close()]);
    },
  };
}

/** The tighter of two attachment caps (either ESP may carry the message); none when neither has one. */
function smallerCap(a: number | undefined, b: number | undefined): { maxAttachmentBytes?: number } {
  if (a === undefined && b === undefined) return {};
  return { maxAttachmentBytes: Math.min(a ?? Number.POSITIVE_INFINITY, b ?? Number.POSITIVE_INFINITY) };
}
