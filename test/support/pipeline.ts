/**
 * Runs an app's stages in-process until nothing is left to do: every consumer's runOnce() in
 * turn, plus the prepare stage's loops (due staged chunks, A/B decisions), until a full pass
 * handles nothing. Deterministic, no sleeps.
 */
import { pino, type Logger } from 'pino';
import type { App } from '../../src/app.ts';
import { createConsumer, type Handler } from '../../src/bus/consumer.ts';
import { decideDue } from '../../src/campaigns/ab-test.ts';
import { dispatchDue } from '../../src/campaigns/staging.ts';

export async function drain(
  app: App,
  options: { only?: string[]; maxPasses?: number; log?: Logger } = {},
): Promise<number> {
  const log = options.log ?? pino({ level: 'silent' });
  const consumers = app.stages
    .filter((s) => options.only === undefined || options.only.includes(s.name))
    .flatMap((s) =>
      s.consumers.map((c) =>
        createConsumer(
          { bus: app.bus, clock: app.clock, log },
          { maxAttempts: app.config.worker.maxAttempts, ...c.options },
          c.handler as Handler<unknown>,
        ),
      ),
    );
  let total = 0;
  for (let pass = 0; pass < (options.maxPasses ?? 100_000); pass++) {
    // the prepare stage's loops: due staged chunks, and A/B tests ready to be decided
    let n = options.only === undefined || options.only.includes('prepare') ? await dispatchDue(app) : 0;
    if (options.only === undefined || options.only.includes('prepare'))
      n += await decideDue({ ...app, revenueOf: app.attribution.netRevenueByContact });
    for (const c of consumers) n += await c.runOnce();
    total += n;
    if (n === 0) return total;
  }
  throw new Error('pipeline did not settle');
}
