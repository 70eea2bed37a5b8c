/**
 * A/B tests on the blast road (docs/ab-tests.md). A campaign with `abTest` runs two passes over
 * its audience: the test pass sends the test share (a hash of campaign and contact), each contact
 * the variant of the cell it was dealt; the remainder pass, started once a winner is chosen,
 * sends everyone else the winner. Both passes are ordinary select steps (same ledger, governor,
 * suppression); the remainder's contacts are the complement of the test share by the same hash,
 * and the ledger's one row per (campaign, contact) means nobody is ever sent twice.
 * The winner is chosen by the sequential test of src/core/ab-test/sequential.ts, looked at by a
 * loop after the test share has been sent, or by the deadline's fallback, or by hand.
 */
import type { Logger } from 'pino';
import type { Bus } from '../bus/port.ts';
import { addToOutbox, publishOutboxed } from '../bus/outbox.ts';
import { pollUntilAborted } from '../bus/relay.ts';
import { TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { dealCells, domainOfAddress, inTestShare } from '../core/ab-test/assignment.ts';
import {
  type CellCounts,
  type Decision,
  type DecisionOptions,
  DEFAULT_ALPHA,
  DEFAULT_MIN_LIFT,
  decide,
} from '../core/ab-test/sequential.ts';
import { SwitchyardError } from '../core/errors.ts';
import { escapeHtml } from '../core/html-escape.ts';
import type { Db, Queryable } from '../store/port.ts';
import { finishIfDone } from './completion.ts';
import { UNSETTLED_STATES } from './send-ledger.ts';
import type { AbMetric, AbTestDefinition, Campaign, CampaignDefinition, CampaignVariant, Recipient } from './types.ts';

/** The metric's event type in engagement_events, and whether fewer is better. */
const METRICS: Record<AbMetric, { type: string | null; lowerWins: boolean; expectedRate: number }> = {
  human_clicks: { type: 'clicked', lowerWins: false, expectedRate: 0.02 },
  human_opens: { type: 'opened', lowerWins: false, expectedRate: 0.2 },
  replies: { type: 'replied', lowerWins: false, expectedRate: 0.005 },
  unsubscribes: { type: 'unsubscribed', lowerWins: true, expectedRate: 0.002 },
  // net revenue per recipient (attribution's conversions since the campaign started); expectedRate
  // is required for it (a currency amount has no usual value)
  revenue: { type: null, lowerWins: false, expectedRate: 100 },
};

/** Net revenue in minor units per contact, of conversions since a time (the attribution service). */
export type RevenueOf = (contactIds: readonly string[], since: Date) => Promise<Map<string, number>>;

/** Ledger states of a message that left for the provider (in-doubt rows are not counted). */
const SENT_STATES = ['sent', 'delivered', 'bounced', 'complained', 'deferred'];

export const DEFAULT_MIN_SAMPLE_PER_CELL = 1000;

export function decisionOptions(t: AbTestDefinition): DecisionOptions {
  const metric = METRICS[t.metric ?? 'human_clicks'];
  return {
    alpha: t.alpha ?? DEFAULT_ALPHA,
    tau: (t.expectedRate ?? metric.expectedRate) * (t.minimumLift ?? DEFAULT_MIN_LIFT),
    minSamplePerCell: t.minSamplePerCell ?? DEFAULT_MIN_SAMPLE_PER_CELL,
    lowerWins: metric.lowerWins,
  };
}

/** Problems of an A/B definition the schema cannot see, each with its path. */
export function abProblems(t: AbTestDefinition): string[] {
  const problems: string[] = [];
  if (t.variants.length < 2 || t.variants.length > 8)
    problems.push(`/abTest/variants: needs 2 to 8 variants, got ${t.variants.length}`);
  if (t.fallback !== undefined && (t.fallback < 0 || t.fallback >= t.variants.length))
    problems.push(`/abTest/fallback: must name a variant, 0 to ${t.variants.length - 1}`);
  if (t.metric !== 'revenue' && t.expectedRate !== undefined && t.expectedRate >= 1)
    problems.push('/abTest/expectedRate: must be a rate below 1 for this metric');
  if (t.metric === 'revenue' && t.expectedRate === undefined)
    problems.push('/abTest/expectedRate: required for revenue (the usual net revenue per recipient, minor units)');
  return problems;
}

/** The definition a variant sends: the campaign's own with the variant's changes. */
export function variantDefinition(def: CampaignDefinition, index: number | undefined): CampaignDefinition {
  const v: CampaignVariant | undefined = index === undefined ? undefined : def.abTest?.variants[index];
  if (v === undefined) return def;
  const template = { ...def.template, ...v.template };
  if (v.preheader !== undefined && template.html !== undefined)
    template.html = withPreheader(template.html, v.preheader);
  return {
    ...def,
    subject: v.subject ?? def.subject,
    from: v.fromName === undefined ? def.from : { ...def.from, name: v.fromName },
    template,
  };
}

/** Inbox preview text: MJML's <mj-preview>, or a hidden block first in an HTML body, where
 *  mail clients take the preview from. */
export function withPreheader(html: string, preheader: string): string {
  // Liquid would read {{ or {% in the text as template code: the preheader is plain text
  const text = escapeHtml(preheader).replace(/\{/g, '&#123;').replace(/\}/g, '&#125;');
  const insert = (at: RegExpExecArray | null, fallback: number, block: string): string => {
    const i = at === null ? fallback : at.index + at[0].length;
    return html.slice(0, i) + block + html.slice(i);
  };
  if (/^\s*<mjml[\s>]/i.test(html)) {
    const preview = `<mj-preview>${text}</mj-preview>`;
    const head = /<mj-head[^>]*>/i.exec(html);
    if (head !== null) return insert(head, 0, preview);
    return insert(/<mjml[^>]*>/i.exec(html), 0, `<mj-head>${preview}</mj-head>`);
  }
  const block =
    '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden">'
    + `${text}</div>`;
  return insert(/<body[^>]*>/i.exec(html), 0, block);
}

/** The audience rows the campaign's current pass sends: all of them without a test. */
export function rowsForPass(c: Campaign, rows: Recipient[]): Recipient[] {
  const t = c.definition.abTest;
  if (t === undefined || c.abPhase === null || t.testShare >= 1) return c.abPhase === 'remainder' ? [] : rows;
  const testing = c.abPhase === 'testing';
  return rows.filter((r) => inTestShare(c.id, r.id, t.testShare) === testing);
}

/**
 * The variant per contact of a prepared chunk. Test pass: cells dealt by domain, stored at first
 * deal (`on conflict do nothing`) and read back, so a chunk prepared again sends the cells it was
 * first dealt. Remainder pass: the winner. Without a test: nothing (undefined).
 */
export async function variantsFor(
  db: Queryable,
  c: Campaign,
  seq: number,
  recipients: readonly Recipient[],
  at: Date,
): Promise<Map<string, number> | undefined> {
  if (c.definition.abTest === undefined || c.abPhase === null) return undefined;
  if (c.abPhase !== 'testing') {
    const winner = (await decisionOf(db, c.id))?.variant ?? c.definition.abTest.fallback ?? 0;
    return new Map(recipients.map((r) => [r.id, winner]));
  }
  if (recipients.length === 0) return new Map();
  const dealt = dealCells(
    c.id,
    seq,
    recipients.map((r) => ({ contactId: r.id, domain: domainOfAddress(r.email) })),
    c.definition.abTest.variants.length,
  );
  const ids = [...dealt.keys()];
  const { rows } = await db.query<{ contact_id: string; cell: number }>(
    `with dealt as (
       insert into ab_assignments (campaign_id, contact_id, cell, assigned_at)
       select $1, x.contact_id, x.cell, $4 from unnest($2::text[], $3::int[]) as x(contact_id, cell)
       on conflict (campaign_id, contact_id) do nothing
       returning contact_id, cell)
     select contact_id, cell from dealt
     union all
     select a.contact_id, a.cell from ab_assignments a
      where a.campaign_id = $1 and a.contact_id = any($2::text[])
        and not exists (select 1 from dealt d where d.contact_id = a.contact_id)`,
    [c.id, ids, ids.map((id) => dealt.get(id)!), at],
  );
  return new Map(rows.map((r) => [r.contact_id, Number(r.cell)]));
}

export interface AbDecisionRecord {
  variant: number;
  how: 'test' | 'deadline' | 'manual';
  reason: string;
  at: string;
  /** The numbers the choice was made on. */
  cells: Decision['cells'];
  pairs: Decision['pairs'];
  threshold: number;
}

async function decisionOf(db: Queryable, campaignId: string): Promise<AbDecisionRecord | null> {
  const { rows } = await db.query<{ ab_decision: AbDecisionRecord | null }>(
    'select ab_decision from campaigns where id = $1',
    [campaignId],
  );
  return rows[0]?.ab_decision ?? null;
}

/** Recipients sent and converted per cell (human events only: machine opens and scanner clicks never count). */
export async function cellCounts(db: Queryable, c: Campaign, revenueOf?: RevenueOf): Promise<CellCounts[]> {
  const t = c.definition.abTest;
  if (t === undefined) return [];
  const metric = METRICS[t.metric ?? 'human_clicks'];
  if (metric.type === null) return revenueCounts(db, c, t, revenueOf);
  const { rows } = await db.query<{ cell: number; sends: number; conversions: number }>(
    `select a.cell, count(*)::int as sends,
        count(*) filter (where exists (
          select 1 from engagement_events e
           where e.campaign_id = a.campaign_id and e.contact_id = a.contact_id and e.type = $2 and not e.is_machine
        ))::int as conversions
       from ab_assignments a
       join send_ledger l on l.campaign_id = a.campaign_id and l.contact_id = a.contact_id
      where a.campaign_id = $1 and l.state = any($3::text[])
      group by a.cell`,
    [c.id, metric.type, SENT_STATES],
  );
  const counts = t.variants.map(() => ({ sends: 0, conversions: 0 }));
  for (const r of rows) counts[Number(r.cell)] = { sends: Number(r.sends), conversions: Number(r.conversions) };
  return counts;
}

/** Per cell: recipients sent, how many bought, and the sum and sum of squares of their net revenue. */
async function revenueCounts(
  db: Queryable,
  c: Campaign,
  t: AbTestDefinition,
  revenueOf: RevenueOf | undefined,
): Promise<CellCounts[]> {
  if (revenueOf === undefined) throw new SwitchyardError('VALIDATION_FAILED', 'revenue needs the attribution service');
  const { rows } = await db.query<{ contact_id: string; cell: number }>(
    `select a.contact_id, a.cell from ab_assignments a
       join send_ledger l on l.campaign_id = a.campaign_id and l.contact_id = a.contact_id
      where a.campaign_id = $1 and l.state = any($2::text[])`,
    [c.id, SENT_STATES],
  );
  const revenue = await revenueOf(
    rows.map((r) => r.contact_id),
    c.startedAt ?? new Date(0),
  );
  const counts = t.variants.map(() => ({ sends: 0, conversions: 0, sum: 0, sumSquares: 0 }));
  for (const r of rows) {
    const cell = counts[Number(r.cell)]!;
    const value = revenue.get(r.contact_id) ?? 0;
    cell.sends++;
    if (value !== 0) cell.conversions++;
    cell.sum += value;
    cell.sumSquares += value * value;
  }
  return counts;
}

export interface AbStatus {
  phase: Campaign['abPhase'];
  metric: AbMetric;
  testShare: number;
  variants: { index: number; name: string }[];
  /** When the test share had all been sent (null while it is being sent). */
  testSentAt: string | null;
  /** When the fallback is sent if no winner is found first. */
  deadline: string | null;
  /** The live look: per-cell counts, rates, intervals and pairwise results. */
  live: Decision;
  decision: AbDecisionRecord | null;
  /** α, τ and the minimum sample the rule runs with. */
  rule: DecisionOptions;
}

export async function abStatus(db: Queryable, c: Campaign, revenueOf?: RevenueOf): Promise<AbStatus | null> {
  const t = c.definition.abTest;
  if (t === undefined) return null;
  const { rows } = await db.query<{ ab_test_sent_at: Date | null; ab_decision: AbDecisionRecord | null }>(
    'select ab_test_sent_at, ab_decision from campaigns where id = $1',
    [c.id],
  );
  const sentAt = rows[0]?.ab_test_sent_at ?? null;
  const rule = decisionOptions(t);
  return {
    phase: c.abPhase,
    metric: t.metric ?? 'human_clicks',
    testShare: t.testShare,
    variants: t.variants.map((v, index) => ({ index, name: v.name ?? (index === 0 ? 'control' : `variant ${index}`) })),
    testSentAt: sentAt === null ? null : new Date(sentAt).toISOString(),
    deadline:
      sentAt === null ? null : new Date(new Date(sentAt).getTime() + t.decideWithinHours * 3_600_000).toISOString(),
    live: decide(await cellCounts(db, c, revenueOf), rule),
    decision: rows[0]?.ab_decision ?? null,
    rule,
  };
}

export interface AbDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  /** For tests on revenue (the attribution service). */
  revenueOf?: RevenueOf;
}

/**
 * Records the winner and starts the remainder pass (its first select step goes through the
 * outbox with the state change, so a crash between them cannot lose it). Only from `testing`,
 * once the test pass has read the whole audience (the remainder pass reuses the select position);
 * a second choice, by hand or by the loop, finds the test decided and changes nothing.
 */
export async function chooseWinner(deps: AbDeps, c: Campaign, choice: Omit<AbDecisionRecord, 'at'>): Promise<boolean> {
  const t = c.definition.abTest;
  if (t === undefined) throw new SwitchyardError('VALIDATION_FAILED', `campaign ${c.id} has no A/B test`);
  if (!Number.isInteger(choice.variant) || choice.variant < 0 || choice.variant >= t.variants.length)
    throw new SwitchyardError('VALIDATION_FAILED', `variant must be 0 to ${t.variants.length - 1}`);
  const at = deps.clock.now();
  const record: AbDecisionRecord = { ...choice, at: at.toISOString() };
  const noRemainder = t.testShare >= 1;
  const written = await deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<{ select_seq: number }>(
      `update campaigns set ab_decision = $2, ab_phase = $3, updated_at = $4,
         select_after = case when $3 = 'remainder' then null else select_after end,
         select_done = case when $3 = 'remainder' then false else select_done end
       where id = $1 and ab_phase = 'testing' and select_done and status in ('running', 'paused')
       returning select_seq`,
      [c.id, JSON.stringify(record), noRemainder ? 'done' : 'remainder', at],
    );
    const row = rows[0];
    if (row === undefined) return null;
    if (noRemainder) return [];
    const seq = Number(row.select_seq);
    return [
      await addToOutbox(
        tx,
        TOPICS.select,
        [{ id: `${c.id}:select:${seq}`, key: c.id, payload: { campaignId: c.id, seq } }],
        at,
      ),
    ];
  });
  if (written === null) return false;
  await publishOutboxed(deps, written);
  // without a remainder the test share was the whole campaign: it may be complete now
  if (noRemainder) await finishIfDone(deps, c.id, at);
  return true;
}

/**
 * One look of the decider: every running campaign whose test share has all been sent is
 * evaluated; a winner (or the deadline's fallback) starts its remainder. Returns how many were
 * decided.
 */
export async function decideDue(deps: AbDeps): Promise<number> {
  const { db, clock } = deps;
  const now = clock.now();
  // the test pass is over when selection is done, every chunk prepared and every part handled,
  // and no ledger row of the campaign is still on its way (as completeIfDone checks)
  const { rows } = await db.query<{ id: string }>(
    `update campaigns c set ab_test_sent_at = coalesce(c.ab_test_sent_at, $1)
      where c.status = 'running' and c.ab_phase = 'testing' and c.select_done
        and (select count(*) from campaign_chunks k where k.campaign_id = c.id) = c.select_seq
        and (select coalesce(sum(parts), 0) from campaign_chunks k where k.campaign_id = c.id)
          = (select count(*) from campaign_chunk_parts p where p.campaign_id = c.id)
        and not exists (select 1 from send_ledger l where l.campaign_id = c.id and l.state = any($2::text[]))
      returning c.id`,
    [now, UNSETTLED_STATES],
  );
  let decided = 0;
  for (const { id } of rows) {
    const { rows: found } = await db.query<{
      definition: CampaignDefinition;
      ab_test_sent_at: Date;
      status: Campaign['status'];
      started_at: Date | null;
    }>('select definition, ab_test_sent_at, status, started_at from campaigns where id = $1', [id]);
    const f = found[0];
    const t = f?.definition.abTest;
    if (f === undefined || t === undefined) continue;
    const c = { id, definition: f.definition, abPhase: 'testing', startedAt: f.started_at } as Campaign;
    const look = decide(await cellCounts(db, c, deps.revenueOf), decisionOptions(t));
    const deadline = new Date(f.ab_test_sent_at).getTime() + t.decideWithinHours * 3_600_000;
    let choice: Omit<AbDecisionRecord, 'at'> | null = null;
    const numbers = { cells: look.cells, pairs: look.pairs, threshold: look.threshold };
    if (look.winner !== null) choice = { variant: look.winner, how: 'test', reason: look.reason, ...numbers };
    else if (now.getTime() >= deadline)
      choice = {
        variant: t.fallback ?? 0,
        how: 'deadline',
        reason: `no winner within ${t.decideWithinHours} h (${look.reason}): the fallback is sent`,
        ...numbers,
      };
    if (choice !== null && (await chooseWinner(deps, c, choice))) decided++;
  }
  return decided;
}

export function runAbDecider(deps: AbDeps & { log: Logger }, signal: AbortSignal, intervalMs = 15_000): Promise<void> {
  return pollUntilAborted(deps, signal, intervalMs, 'deciding A/B tests', () => decideDue(deps));
}

/**
 * A chunk's scheduled parts split by variant (each part is one variant's message), sorted by due
 * time then variant so part numbers are the same whenever the chunk is prepared again. A variant
 * with a send delay is not due before the campaign's start plus that delay (test pass only).
 */
export function splitByVariant(
  c: Campaign,
  parts: readonly { due: Date; recipients: Recipient[] }[],
  variants: ReadonlyMap<string, number> | undefined,
): { due: Date; variant?: number; recipients: Recipient[] }[] {
  if (variants === undefined) return [...parts];
  const t = c.definition.abTest;
  const start = (c.startedAt ?? new Date(0)).getTime();
  const groups = new Map<string, { due: number; variant: number; recipients: Recipient[] }>();
  for (const p of parts) {
    for (const r of p.recipients) {
      const variant = variants.get(r.id);
      if (variant === undefined) continue;
      const delay = c.abPhase === 'testing' ? (t?.variants[variant]?.sendDelayMinutes ?? 0) : 0;
      const due = Math.max(p.due.getTime(), start + delay * 60_000);
      const key = `${due}:${variant}`;
      const g = groups.get(key) ?? { due, variant, recipients: [] };
      g.recipients.push(r);
      groups.set(key, g);
    }
  }
  return [...groups.values()]
    .sort((a, b) => a.due - b.due || a.variant - b.variant)
    .map((g) => ({ due: new Date(g.due), variant: g.variant, recipients: g.recipients }));
}
