/**
 * CRM rate-limit gauges on /metrics, read at scrape time from the adapter's own figures: the
 * vendor's daily allowance and what is left of it (from its response headers), and the requests
 * and throttled answers of this process.
 */
import { Gauge, type Registry } from 'prom-client';

export interface CrmUsage {
  crm: string;
  dailyLimit?: number;
  dailyRemaining?: number;
  intervalLimit?: number;
  intervalRemaining?: number;
  requests: number;
  throttled: number;
}

export function registerCrmGauges(registry: Registry, usage: () => CrmUsage): void {
  const gauge = (name: string, help: string, pick: (u: CrmUsage) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: ['crm'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const u = usage();
        const v = pick(u);
        if (v !== undefined) this.set({ crm: u.crm }, v);
      },
    });
  };
  gauge('switchyard_crm_daily_limit', 'CRM API calls allowed per day (vendor header)', (u) => u.dailyLimit);
  gauge('switchyard_crm_daily_remaining', 'CRM API calls left today (vendor header)', (u) => u.dailyRemaining);
  gauge(
    'switchyard_crm_interval_remaining',
    'CRM API calls left in the burst window (vendor header)',
    (u) => u.intervalRemaining,
  );
  gauge('switchyard_crm_requests', 'CRM API requests sent by this process', (u) => u.requests);
  gauge('switchyard_crm_throttled', 'CRM answers of 429 (rate limited) to this process', (u) => u.throttled);
}
