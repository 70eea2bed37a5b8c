/**
 * `npm run bench -- governor [--size MINUTES] [--hidden 200] [--drop 50]`: drives the governor on the
 * manual clock against a receiving domain that defers above a hidden rate, for `size` simulated
 * minutes (default 30) after a 2-minute ramp, then drops the hidden rate and measures the back-off.
 * Baseline in the same run: a fixed-rate sender at the governor's default ceiling (no feedback).
 */
import { createManualClock } from '../src/clock/manual.ts';
import { createGovernor } from '../src/deliverability/governor.ts';
import type { GovernorAlert, SendKey } from '../src/deliverability/governor.ts';
import { DEFAULT_RECEIVING_AIMD } from '../src/deliverability/governor-options.ts';
import { createDeferringReceiver, startSimulatedSender } from '../test/support/deferring-receiver.ts';

const key: SendKey = {
  provider: 'smtp',
  sendingDomain: 'news.example.com',
  recipientDomain: 'gmail.com',
  campaignId: 'bench',
};

function pct(part: number, whole: number): number {
  return whole > 0 ? Math.round((10_000 * part) / whole) / 100 : 0;
}

export async function run(args: { size?: number; options: Record<string, string> }): Promise<Record<string, unknown>> {
  const minutes = args.size ?? 30;
  const hidden = Number(args.options.hidden ?? 200);
  const drop = Number(args.options.drop ?? 50);
  const wallStart = performance.now();

  const clock = createManualClock();
  const alerts: GovernorAlert[] = [];
  const gov = createGovernor({ clock, onAlert: (a) => alerts.push(a) }, {});
  const receiver = createDeferringReceiver({ ratePerSec: hidden, start: clock.now() });
  const sender = startSimulatedSender(gov, receiver, key, () => clock.now());
  await clock.advance(0);
  await clock.advance(120_000);
  const before = { ...receiver.counts };
  await clock.advance(minutes * 60_000);
  const accepted = receiver.counts.accepted - before.accepted;
  const deferred = receiver.counts.deferred - before.deferred;

  receiver.setHiddenRate(drop, clock.now());
  const dropAt = clock.now().getTime();
  let backoffMs: number | null = null;
  for (let t = 0; t < 60_000 && backoffMs === null; t += 100) {
    await clock.advance(100);
    const rate = gov.status().receivingGroups[0]?.ratePerSec ?? Number.POSITIVE_INFINITY;
    if (rate <= drop * 1.1) backoffMs = clock.now().getTime() - dropAt;
  }
  const mid = { ...receiver.counts };
  await clock.advance(300_000);
  const accAfter = receiver.counts.accepted - mid.accepted;
  const defAfter = receiver.counts.deferred - mid.deferred;
  sender.stop();
  await clock.advance(1);
  await sender.done;
  const wallMs = Math.round(performance.now() - wallStart);

  // Baseline: no feedback, sending at the default ceiling for the same steady period.
  const base = createDeferringReceiver({ ratePerSec: hidden, start: new Date(0) });
  const ceiling = DEFAULT_RECEIVING_AIMD.ceiling;
  for (let ms = 0; ms < minutes * 60_000; ms += 10) {
    for (let i = 0; i < ceiling / 100; i++) base.attempt(new Date(ms));
  }

  return {
    ratio: Math.round((1000 * accepted) / (minutes * 60) / hidden) / 1000,
    deferred_pct: pct(deferred, accepted + deferred),
    hidden_rate: hidden,
    achieved_rate: Math.round((10 * accepted) / (minutes * 60)) / 10,
    simulated_minutes: minutes,
    backoff_ms_to_within_10pct: backoffMs,
    ratio_after_drop: Math.round((1000 * accAfter) / 300 / drop) / 1000,
    deferred_pct_after_drop: pct(defAfter, accAfter + defAfter),
    rate_reductions: alerts.filter((a) => a.kind === 'rate_reduced').length,
    wall_ms: wallMs,
    sim_speedup: Math.round(((minutes + 2 + 6) * 60_000) / Math.max(1, wallMs)),
    baseline_fixed_rate: ceiling,
    baseline_ratio: Math.round((1000 * base.counts.accepted) / (minutes * 60) / hidden) / 1000,
    baseline_deferred_pct: pct(base.counts.deferred, base.counts.accepted + base.counts.deferred),
  };
}
