/**
 * Prometheus metrics for one app instance (its own registry, no global state): handler latency
 * and outcomes per stage, HTTP latency, and bus depth / lag / dead letters read from the bus at
 * scrape time, so the figures are the durable truth rather than in-process counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Bus } from '../bus/port.ts';
import type { ConsumerMetrics } from '../bus/consumer.ts';
import type { GovernorStatus, ScopeStatus } from '../deliverability/governor-status.ts';

export interface Metrics {
  registry: Registry;
  consumer: ConsumerMetrics;
  http: Histogram<'method' | 'route' | 'status'>;
  /** Free-form counter for services: name must be registered here first. */
  events: Counter<'type' | 'provider' | 'result'>;
  /** Webhook requests answered 4xx, by vendor and error code (only a sample of them is stored). */
  webhookRefused: Counter<'vendor' | 'code'>;
}

export interface MetricsDeps {
  bus: Bus;
  /** Deliverability governor: its status() is exported per scope at scrape time. */
  governor?: { status(): GovernorStatus };
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_process_' });
  const duration = new Histogram({
    name: 'switchyard_handler_duration_seconds',
    help: 'Time spent in a bus handler per message',
    labelNames: ['group', 'topic'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });
  const handled = new Counter({
    name: 'switchyard_messages_handled_total',
    help: 'Bus messages handled, by outcome (ack, retry, dead, release)',
    labelNames: ['group', 'topic', 'outcome'] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'switchyard_handler_errors_total',
    help: 'Handler failures by error code',
    labelNames: ['group', 'topic', 'code'] as const,
    registers: [registry],
  });
  const gauge = (name: string, help: string, pick: (d: Awaited<ReturnType<Bus['depth']>>[number]) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['topic', 'group'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const d of await deps.bus.depth()) this.set({ topic: d.topic, group: d.group }, pick(d));
      },
    });
  };
  gauge('switchyard_bus_pending_messages', 'Messages published and not yet handed to the group', (d) => d.pending);
  gauge('switchyard_bus_in_flight_messages', 'Messages leased by a consumer and not yet settled', (d) => d.inFlight);
  gauge('switchyard_bus_retrying_messages', 'Messages waiting for redelivery', (d) => d.retrying);
  gauge(
    'switchyard_bus_consumer_lag_seconds',
    'Age of the oldest message the group has not taken yet',
    (d) => d.oldestPendingMs / 1000,
  );
  new Gauge({
    name: 'switchyard_dead_letters',
    help: 'Dead letters not yet retried',
    registers: [registry],
    async collect() {
      this.set(await deps.bus.deadLetters.count());
    },
  });
  if (deps.governor !== undefined) governorGauges(registry, deps.governor);
  const http = new Histogram({
    name: 'switchyard_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const events = new Counter({
    name: 'switchyard_events_total',
    help: 'Engagement events ingested, by type, provider and result',
    labelNames: ['type', 'provider', 'result'] as const,
    registers: [registry],
  });
  const webhookRefused = new Counter({
    name: 'switchyard_webhook_refused_total',
    help: 'Webhook requests refused (4xx), by vendor and error code; only a bounded sample is dead-lettered',
    labelNames: ['vendor', 'code'] as const,
    registers: [registry],
  });
  return {
    registry,
    http,
    events,
    webhookRefused,
    consumer: {
      observe(labels, outcome, seconds, code) {
        duration.observe(labels, seconds);
        handled.inc({ ...labels, outcome });
        if (code !== undefined && outcome !== 'ack') errors.inc({ ...labels, code });
      },
    },
  };
}

const SCOPE_LABELS = ['scope', 'provider', 'sending_domain', 'receiving_group', 'campaign_id'] as const;
type ScopeLabel = (typeof SCOPE_LABELS)[number];

/** Gauges from governor.status(): one series per provider, sending domain, receiving group and
 *  campaign (scope label says which), read at scrape time; reset each scrape so evicted keys go. */
function governorGauges(registry: Registry, governor: { status(): GovernorStatus }): void {
  // status() per gauge collect: six cheap reads per scrape, no cached state to go stale
  const rows = (): [string, ScopeStatus][] => {
    const s = governor.status();
    return [
      ...s.providers.map((r) => ['provider', r] as [string, ScopeStatus]),
      ...s.sendingDomains.map((r) => ['sending_domain', r] as [string, ScopeStatus]),
      ...s.receivingGroups.map((r) => ['receiving_group', r] as [string, ScopeStatus]),
      ...s.campaigns.map((r) => ['campaign', r] as [string, ScopeStatus]),
    ];
  };
  const labels = (scope: string, r: ScopeStatus): Record<ScopeLabel, string> => ({
    scope,
    provider: r.scope.provider ?? '',
    sending_domain: r.scope.sendingDomain ?? '',
    receiving_group: r.scope.receivingGroup ?? '',
    campaign_id: r.scope.campaignId ?? '',
  });
  const gauge = (name: string, help: string, pick: (r: ScopeStatus) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: SCOPE_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const [scope, r] of rows()) {
          const v = pick(r);
          if (v !== null) this.set(labels(scope, r), v);
        }
      },
    });
  };
  gauge(
    'switchyard_deliverability_rate_per_second',
    'Admitted send rate of the scope (msgs/s; providers and receiving groups, half-open or capped domains)',
    (r) => r.ratePerSec,
  );
  gauge('switchyard_deliverability_attempts', 'Send attempts in the governor stats window', (r) => r.attempts);
  gauge(
    'switchyard_deliverability_deferral_percent',
    'Deferred attempts in the stats window (%)',
    (r) => r.deferralPct,
  );
  gauge(
    'switchyard_deliverability_bounce_hard_percent',
    'Hard bounces per accepted send in the stats window (%)',
    (r) => r.bounceHardPct,
  );
  gauge(
    'switchyard_deliverability_complaint_percent',
    'Complaints per accepted send in the stats window (%)',
    (r) => r.complaintPct,
  );
  gauge(
    'switchyard_deliverability_breaker_open',
    'Circuit breaker open (1) or not (0; half-open counts as 0) for campaigns and sending domains',
    (r) => (r.breaker === null ? null : r.breaker.state === 'open' ? 1 : 0),
  );
}
