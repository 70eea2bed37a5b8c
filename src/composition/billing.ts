/**
 * Builds the billing readers that pull revenue in (as opposed to the Stripe webhook, which is
 * pushed): the Stripe backfill over its list endpoints, with the secret key and API URL the
 * configuration holds for Stripe. Part of app.ts's composition; services never see the adapter.
 */
import { type BackfillOptions, type BackfillStreamResult, runBillingBackfill } from '../billing/backfill.ts';
import type { BillingService } from '../billing/service.ts';
import type { NewDeadLetter } from '../bus/port.ts';
import type { Clock } from '../clock/port.ts';
import type { Config } from '../config.ts';
import { createStripeBackfillSource } from '../connectors/billing/stripe/backfill.ts';
import { stripeRevenueFacts } from '../connectors/billing/stripe/revenue.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { Db } from '../store/port.ts';

export interface BillingReaders {
  /** `switchyard billing backfill`: every page of Stripe's lists, resumable (src/billing/backfill.ts). */
  backfillStripe(options: BackfillOptions): Promise<{ streams: BackfillStreamResult[]; linked: number }>;
}

export function createBillingReaders(
  config: Pick<Config, 'compliance'>,
  deps: { db: Db; clock: Clock; billing: BillingService; deadLetters: { add(e: NewDeadLetter): Promise<number> } },
): BillingReaders {
  return {
    backfillStripe(options) {
      const stripe = config.compliance.stripe;
      if (stripe === undefined)
        throw new SwitchyardError(
          'CONFIG_INVALID',
          'SWITCHYARD_STRIPE_SECRET_KEY is not set: nothing to backfill from',
        );
      const source = createStripeBackfillSource({
        secretKey: stripe.secretKey,
        baseUrl: stripe.apiUrl,
        clock: deps.clock,
      });
      return runBillingBackfill({ ...deps, source, facts: stripeRevenueFacts }, options);
    },
  };
}
