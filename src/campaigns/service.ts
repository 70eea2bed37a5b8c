/**
 * Campaign lifecycle: create, validate, preview, start, pause, resume, cancel, status. Starting
 * publishes the first select step; everything after that is the stages' work on the bus.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Bus, GroupDepth } from '../bus/port.ts';
import { BLAST_TOPIC_PREFIX, publishTo, TOPICS } from '../bus/topics.ts';
import type { Clock } from '../clock/port.ts';
import { isSwitchyardError, SwitchyardError } from '../core/errors.ts';
import { previewSecrets } from '../core/tracking-token.ts';
import type { OutboundMessage } from '../connectors/esp/port.ts';
import type { Warehouse } from '../connectors/warehouse/port.ts';
import { checkEmail } from '../core/email-address.ts';
import type { SendKey, SentMessage } from '../core/inbound/report-trust.ts';
import { CSV_DELIMITER_PATTERN, MAX_AUDIENCE_SQL_LENGTH } from '../core/audience-limits.ts';
import type { Db } from '../store/port.ts';
import type { ScopeStatus } from '../deliverability/governor-status.ts';
import {
  abProblems,
  abStatus,
  type AbStatus,
  cellCounts,
  chooseWinner,
  decisionOptions,
  type RevenueOf,
  variantDefinition,
} from './ab-test.ts';
import { decide } from '../core/ab-test/sequential.ts';
import * as q from './queries.ts';
import { opened, type PiiSealer } from './pii.ts';
import * as ledger from './send-ledger.ts';
import { validateTemplate } from './render/compile.ts';
import { renderMessage } from './render/render-message.ts';
import { renderCampaignOf, type RenderSettings, type TemplateCache } from './template-cache.ts';
import { AB_METRICS, PRIORITIES, type Audience, type Campaign, type CampaignDefinition } from './types.ts';

const Hours = Type.Object({
  start: Type.Integer({ minimum: 0, maximum: 23 }),
  end: Type.Integer({ minimum: 0, maximum: 24 }),
});
const AddressSchema = Type.Object({ address: Type.String({ minLength: 3 }), name: Type.Optional(Type.String()) });
const MappingSchema = Type.Object({
  columns: Type.Record(Type.String(), Type.String()),
  fields: Type.Optional(Type.Array(Type.String())),
});

export const CampaignInput = Type.Object({
  id: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' })),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  from: AddressSchema,
  replyTo: Type.Optional(AddressSchema),
  subject: Type.String({ minLength: 1 }),
  template: Type.Object({ html: Type.Optional(Type.String()), text: Type.Optional(Type.String()) }),
  audience: Type.Union([
    Type.Object({
      source: Type.Literal('demo'),
      size: Type.Optional(Type.Integer({ minimum: 0 })),
      seed: Type.Optional(Type.Integer()),
    }),
    Type.Object({
      source: Type.Literal('postgres'),
      sql: Type.Optional(Type.String({ maxLength: MAX_AUDIENCE_SQL_LENGTH })),
      table: Type.Optional(Type.String({ maxLength: 200 })),
      orderBy: Type.String({ maxLength: 63 }),
      mapping: MappingSchema,
    }),
    // the path is checked against SWITCHYARD_CSV_DIRS by the adapter (create, validate and open)
    Type.Object({
      source: Type.Literal('csv'),
      path: Type.String({ minLength: 1, maxLength: 4096 }),
      mapping: MappingSchema,
      delimiter: Type.Optional(Type.String({ pattern: CSV_DELIMITER_PATTERN })),
    }),
    // a list's members, frozen when the campaign starts reading them
    Type.Object({ source: Type.Literal('list'), list: Type.String({ minLength: 1, maxLength: 100 }) }),
  ]),
  postalAddress: Type.String({ minLength: 1 }),
  priority: Type.Optional(Type.Union(PRIORITIES.map((p) => Type.Literal(p)))),
  schedule: Type.Optional(
    Type.Object({ window: Type.Optional(Hours), quiet: Type.Optional(Hours), bestTime: Type.Optional(Type.Boolean()) }),
  ),
  frequencyCap: Type.Optional(
    Type.Object({ max: Type.Integer({ minimum: 1 }), windowHours: Type.Integer({ minimum: 1 }) }),
  ),
  tags: Type.Optional(Type.Array(Type.String())),
  // the same shape as a consent topic (POST /consent/signup)
  topic: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+$' })),
  abTest: Type.Optional(
    Type.Object(
      {
        variants: Type.Array(
          Type.Object(
            {
              name: Type.Optional(Type.String({ maxLength: 200 })),
              subject: Type.Optional(Type.String({ minLength: 1 })),
              fromName: Type.Optional(Type.String({ maxLength: 200 })),
              preheader: Type.Optional(Type.String({ maxLength: 500 })),
              template: Type.Optional(
                Type.Object({ html: Type.Optional(Type.String()), text: Type.Optional(Type.String()) }),
              ),
              sendDelayMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 60 })),
            },
            { additionalProperties: false },
          ),
          { minItems: 2, maxItems: 8 },
        ),
        testShare: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        metric: Type.Optional(Type.Union(AB_METRICS.map((m) => Type.Literal(m)))),
        alpha: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 0.2 })),
        minSamplePerCell: Type.Optional(Type.Integer({ minimum: 100 })),
        // a rate (0, 1), or for revenue a currency amount per recipient (checked in abProblems)
        expectedRate: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
        minimumLift: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10 })),
        decideWithinHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 }),
        fallback: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 })),
      },
      { additionalProperties: false },
    ),
  ),
});
export type CampaignInput = Static<typeof CampaignInput>;

/** Starts the status reason of a pause the deliverability governor made, so its resume can tell
 *  the pause apart from an operator's. */
export const DELIVERABILITY_HOLD_PREFIX = 'deliverability governor: ';

export interface CampaignServiceDeps {
  db: Db;
  bus: Bus;
  clock: Clock;
  templates: TemplateCache;
  render: RenderSettings;
  openWarehouse(audience: Audience): Warehouse;
  newId(): string;
  /** Net revenue per contact since a time (the attribution service), for A/B tests on revenue. */
  revenueOf?: RevenueOf;
  /** The deliverability governor's view of one campaign (breaker, rates), for status(). */
  deliverability?(campaignId: string): CampaignDeliverability | null;
  /** A read replica for report reads that scan a campaign's ledger (status counts); default `db`.
   *  Its counts may lag the primary by the replication delay; nothing decides on them. */
  reportDb?: Db;

  /** Opens the ledger's sealed addresses (src/privacy/); absent when the ledger holds plain ones. */
  pii?: PiiSealer;
}

/** The governor's row for the campaign (src/deliverability/governor-status.ts ScopeStatus). */
export type CampaignDeliverability = ScopeStatus;

export interface CampaignStatusReport {
  campaign: Campaign;
  counts: Record<string, number>;
  reasons: Record<string, number>;
  stages: Pick<GroupDepth, 'topic' | 'group' | 'pending' | 'inFlight' | 'retrying'>[];
  ratePerSecond: number;
  /** Null while the audience is still being read, when stalled, or when not running. */
  etaSeconds: number | null;
  progress: {
    /** False until selection is done: until then the total is not known (counts are a floor). */
    audienceKnown: boolean;
    /** ISO time since which a running campaign has not moved (no ledger row changed, selection
     *  did not advance) when that is at least STALL_AFTER_MS ago; else null. */
    stalledSince: string | null;
    /** Present while a running campaign waits on its CRM (rate limit, outage): why, and until
     *  when it expects to (the CRM's Retry-After, or the paced fetch of missing profiles). */
    waitingOnCrm?: { reason: string; until: string; expectedWaitSeconds: number };
  };
  /** Present when a governor is wired and knows the campaign: breaker state and reason, rates. */
  deliverability?: CampaignDeliverability | null;
  /** Present for a campaign with an A/B test: phase, live per-variant results, the decision. */
  abTest?: AbStatus;
}

/** A running campaign that has not moved for this long is reported as stalled. */
export const STALL_AFTER_MS = 60_000;

export interface CampaignService {
  create(input: unknown): Promise<Campaign>;
  /** Every problem at once: schema, template, footer fields, audience query. */
  validate(idOrInput: string | unknown): Promise<{ ok: boolean; errors: string[] }>;
  preview(id: string, contact: { id: string; email: string; [field: string]: unknown }): Promise<OutboundMessage>;
  start(id: string): Promise<Campaign>;
  pause(id: string, reason?: string): Promise<Campaign>;
  resume(id: string): Promise<Campaign>;
  /** The deliverability governor's pause: running → paused with its reason; false when the
   *  campaign was not running. Never throws for the state, since alerts arrive asynchronously. */
  holdForDeliverability(id: string, reason: string, at: Date): Promise<boolean>;
  /** Back to running, but only from a pause holdForDeliverability made (an operator's pause is
   *  never lifted by the governor); false otherwise. */
  releaseDeliverabilityHold(id: string, reason: string, at: Date): Promise<boolean>;
  cancel(id: string): Promise<Campaign>;
  get(id: string): Promise<Campaign>;
  /** The campaign, or null when there is none (for readers that skip unknown campaigns). */
  find(id: string): Promise<Campaign | null>;
  /** Send-ledger rows by (campaign, contact) or by a legacy Message-ID: what an inbound report
   *  may reference. */
  findSentMessages(keys: readonly SendKey[], messageIds: readonly string[]): Promise<SentMessage[]>;
  list(limit?: number): Promise<Campaign[]>;
  status(id: string): Promise<CampaignStatusReport>;
  /** The A/B test's live results and decision (NOT_FOUND when the campaign has no test). */
  abTest(id: string): Promise<AbStatus>;
  /** Ends the A/B test now with `variant` as the winner; the remainder is sent it. */
  pickWinner(id: string, variant: number): Promise<AbStatus>;
}

function queryOf(a: Audience): { sql?: string; table?: string } {
  return a.source === 'postgres' ? { sql: a.sql, table: a.table } : {};
}

/** A tagged union's miss (the audience): the tag's allowed values, or the problems of the branch
 *  the tag names, instead of TypeBox's bare "Expected union value". */
function unionProblems(schema: TSchema, value: unknown, path: string): [string, string][] | undefined {
  const branches = (schema as { anyOf?: TSchema[] }).anyOf;
  const tagOf = (b: TSchema): unknown =>
    (b as { properties?: { source?: { const?: unknown } } }).properties?.source?.const;
  if (branches === undefined || branches.some((b) => tagOf(b) === undefined)) return undefined;
  const tag = typeof value === 'object' && value !== null ? (value as { source?: unknown }).source : undefined;
  const branch = branches.find((b) => tagOf(b) === tag);
  if (branch === undefined)
    return [[`${path}/source`, `${path}/source: must be one of ${branches.map(tagOf).join(', ')}`]];
  return [...Value.Errors(branch, value)].map((e) => [`${path}${e.path}`, `${path}${e.path}: ${e.message}`]);
}

/** Every schema problem, one per field (TypeBox reports a union's miss once per branch). */
function schemaErrors(input: unknown): string[] {
  const byPath = new Map<string, string>();
  for (const e of Value.Errors(CampaignInput, input)) {
    const path = e.path || '/';
    for (const [p, line] of unionProblems(e.schema, e.value, e.path) ?? [[path, `${path}: ${e.message}`]])
      if (!byPath.has(p)) byPath.set(p, line);
    if (byPath.size >= 50) break;
  }
  return [...byPath.values()];
}

export function createCampaignService(deps: CampaignServiceDeps): CampaignService {
  const { db, bus, clock } = deps;

  async function mustGet(id: string): Promise<Campaign> {
    const c = await q.getCampaign(db, id);
    if (c === null) throw new SwitchyardError('NOT_FOUND', `campaign ${id} not found`);
    return c;
  }

  async function validateDefinition(def: CampaignDefinition): Promise<string[]> {
    const errors: string[] = [];
    const fromProblem = checkEmail(def.from.address);
    if (fromProblem !== null) errors.push(`from.address: ${fromProblem}`);
    const t = await validateTemplate(
      { subject: def.subject, ...def.template },
      {
        postalAddress: def.postalAddress,
        ...(deps.templates.limits === undefined ? {} : { limits: deps.templates.limits }),
      },
    );
    errors.push(...t.errors.map((e) => `template: ${e}`));
    if (def.abTest !== undefined) {
      errors.push(...abProblems(def.abTest));
      for (const [i, v] of def.abTest.variants.entries()) {
        if (v.subject === undefined && v.template === undefined && v.preheader === undefined) continue;
        const d = variantDefinition(def, i);
        const vt = await validateTemplate(
          { subject: d.subject, ...d.template },
          {
            postalAddress: d.postalAddress,
            ...(deps.templates.limits === undefined ? {} : { limits: deps.templates.limits }),
          },
        );
        errors.push(...vt.errors.map((e) => `abTest/variants/${i}: template: ${e}`));
      }
    }
    try {
      const stream = deps.openWarehouse(def.audience).stream(queryOf(def.audience), { batchSize: 1 });
      for await (const batch of stream) {
        void batch;
        break;
      }
    } catch (err) {
      // adapters build their messages without source data; anything else is named by kind only
      errors.push(`audience: ${isSwitchyardError(err) ? err.message : 'the audience source could not be read'}`);
    }
    return errors;
  }

  /** Refuses an audience the adapter would never read (path outside the CSV dirs, not one SELECT). */
  async function checkAudience(audience: Audience): Promise<void> {
    await deps.openWarehouse(audience).check(queryOf(audience));
  }

  async function move(
    id: string,
    from: Campaign['status'][],
    to: Campaign['status'],
    reason: string | null = null,
  ): Promise<Campaign> {
    const c = await mustGet(id);
    if (!(await q.transition(db, id, from, to, clock.now(), reason))) {
      throw new SwitchyardError(
        'CAMPAIGN_STATE_CONFLICT',
        `campaign ${id} is ${c.status}; it can become ${to} only from ${from.join(' or ')}`,
      );
    }
    return mustGet(id);
  }

  return {
    async create(input) {
      const errors = schemaErrors(input);
      if (errors.length > 0)
        throw new SwitchyardError('CAMPAIGN_INVALID', `campaign is invalid: ${errors.join('; ')}`, {
          details: { errors },
        });
      const { id: givenId, ...rest } = input as CampaignInput;
      const def: CampaignDefinition = { ...rest, priority: rest.priority ?? 'bulk' } as CampaignDefinition;
      const abErrors = def.abTest === undefined ? [] : abProblems(def.abTest);
      if (abErrors.length > 0)
        throw new SwitchyardError('CAMPAIGN_INVALID', `campaign is invalid: ${abErrors.join('; ')}`, {
          details: { errors: abErrors },
        });
      await checkAudience(def.audience);
      const id = givenId ?? deps.newId();
      if (!(await q.insertCampaign(db, id, def, clock.now())))
        throw new SwitchyardError('CAMPAIGN_STATE_CONFLICT', `campaign ${id} already exists`);
      return mustGet(id);
    },
    async validate(idOrInput) {
      if (typeof idOrInput === 'string') {
        const errors = await validateDefinition((await mustGet(idOrInput)).definition);
        return { ok: errors.length === 0, errors };
      }
      const schema = schemaErrors(idOrInput);
      if (schema.length > 0) {
        // The parts that did match the schema are still checked, so one run lists every problem.
        const x = (typeof idOrInput === 'object' && idOrInput !== null ? idOrInput : {}) as Record<string, unknown>;
        const from = x.from as { address?: unknown } | undefined;
        const fromProblem = typeof from?.address === 'string' ? checkEmail(from.address) : null;
        if (fromProblem !== null) schema.push(`from.address: ${fromProblem}`);
        const template = x.template as { html?: unknown; text?: unknown } | undefined;
        const templateOk =
          typeof x.subject === 'string'
          && typeof template === 'object'
          && template !== null
          && ['html', 'text'].every((k) => ['undefined', 'string'].includes(typeof template[k as 'html']));
        if (templateOk) {
          const t = await validateTemplate(
            { subject: x.subject as string, ...(template as { html?: string; text?: string }) },
            {
              // a postal address the schema refused is already reported; the footer check would repeat it
              postalAddress:
                typeof x.postalAddress === 'string' && !schema.some((e) => e.startsWith('/postalAddress'))
                  ? x.postalAddress
                  : '-',
              ...(deps.templates.limits === undefined ? {} : { limits: deps.templates.limits }),
            },
          ).catch(() => ({ errors: [] as string[] }));
          schema.push(...t.errors.map((e) => `template: ${e}`));
        }
        return { ok: false, errors: schema };
      }
      const errors = await validateDefinition({
        priority: 'bulk',
        ...(idOrInput as CampaignInput),
      } as CampaignDefinition);
      return { ok: errors.length === 0, errors };
    },
    async preview(id, contact) {
      const c = await mustGet(id);
      const compiled = await deps.templates.get(c);
      // Preview signs with preview-only secrets (tracking links, unsubscribe, VERP): the links look
      // like real ones, but whoever may preview must not mint working unsubscribe or click links
      // for any contact id; the tracking routes answer them with TRACKING_PREVIEW_TOKEN.
      const settings: RenderSettings = { ...deps.render, trackingSecrets: previewSecrets(deps.render.trackingSecrets) };
      return renderMessage(compiled, {
        contact: { ...contact },
        campaign: renderCampaignOf(c, settings),
        sendAt: clock.now(),
      });
    },
    async start(id) {
      const c = await mustGet(id);
      if (c.status !== 'draft')
        throw new SwitchyardError('CAMPAIGN_STATE_CONFLICT', `campaign ${id} is ${c.status}; only a draft can start`);
      const errors = await validateDefinition(c.definition);
      if (errors.length > 0)
        throw new SwitchyardError('CAMPAIGN_INVALID', `campaign ${id} cannot start: ${errors.join('; ')}`, {
          details: { errors },
        });
      const started = await move(id, ['draft'], 'running');
      if (c.definition.abTest !== undefined) {
        await db.query(`update campaigns set ab_phase = 'testing' where id = $1 and ab_phase is null`, [id]);
        started.abPhase = 'testing';
      }
      await publishTo(bus, TOPICS.select, [{ id: `${id}:select:0`, key: id, payload: { campaignId: id, seq: 0 } }]);
      return started;
    },
    pause: (id, reason) => move(id, ['running'], 'paused', reason ?? 'paused by operator'),
    resume: (id) => move(id, ['paused'], 'running'),
    holdForDeliverability: (id, reason, at) =>
      q.transition(db, id, ['running'], 'paused', at, `${DELIVERABILITY_HOLD_PREFIX}${reason}`),
    releaseDeliverabilityHold: (id, reason, at) =>
      q.releaseHold(db, id, DELIVERABILITY_HOLD_PREFIX, `${DELIVERABILITY_HOLD_PREFIX}${reason}`, at),
    async cancel(id) {
      // chunks still on the bus or staged record themselves as cancelled when they reach send
      return move(id, ['draft', 'running', 'paused'], 'cancelled', 'cancelled by operator');
    },
    get: mustGet,
    find: (id) => q.getCampaign(db, id),
    async findSentMessages(keys, messageIds) {
      const rows = await ledger.findSentMessages(db, keys, messageIds);
      const emails = await opened(
        deps.pii,
        rows.map((r) => r.email),
      );
      // an erased recipient's row names no one any more: a report about it is not one of ours
      return rows.flatMap((r, i) => (emails[i] === null ? [] : [{ ...r, email: emails[i]! }]));
    },
    list: (limit = 50) => q.listCampaigns(db, limit),
    async status(id) {
      const campaign = await mustGet(id);
      const reportDb = deps.reportDb ?? db;
      const counts = await ledger.countStates(reportDb, id);
      const waiting = await q.waitingCount(db, id);
      if (waiting > 0) counts.waiting = waiting;
      const reasons = await ledger.countReasons(reportDb, id);
      const stages = (await bus.depth())
        .filter((d) => d.topic.startsWith(BLAST_TOPIC_PREFIX))
        .map(({ topic, group, pending, inFlight, retrying }) => ({ topic, group, pending, inFlight, retrying }));
      const handed = (counts.sent ?? 0) + (counts.delivered ?? 0) + (counts.bounced ?? 0);
      const now = clock.now();
      const end = campaign.finishedAt ?? now;
      const elapsed = campaign.startedAt === null ? 0 : (end.getTime() - campaign.startedAt.getTime()) / 1000;
      const ratePerSecond = elapsed > 0 ? handed / elapsed : 0;
      const ab = campaign.definition.abTest === undefined ? null : await abStatus(db, campaign, deps.revenueOf);
      // a test share that was sent waits for its winner: waiting, not stalled
      const waitingForWinner = ab?.phase === 'testing' && ab.testSentAt !== null;
      const movedAt = campaign.status === 'running' && !waitingForWinner ? await q.lastMovedAt(db, id) : null;
      const stalledSince =
        movedAt !== null && now.getTime() - movedAt.getTime() >= STALL_AFTER_MS ? movedAt.toISOString() : null;
      // an average rate over the whole run would keep counting down while nothing moves
      const etaSeconds =
        campaign.status !== 'running' || !campaign.selectDone || stalledSince !== null || ratePerSecond === 0
          ? null
          : Math.round((waiting + (counts.rendered ?? 0)) / ratePerSecond);
      const report: CampaignStatusReport = {
        campaign,
        counts,
        reasons,
        stages,
        ratePerSecond: Math.round(ratePerSecond * 10) / 10,
        etaSeconds,
        progress: { audienceKnown: campaign.selectDone, stalledSince },
      };
      const crmWait = campaign.status === 'running' ? await q.crmWait(db, id) : null;
      if (crmWait !== null && crmWait.until.getTime() > now.getTime())
        report.progress.waitingOnCrm = {
          reason: crmWait.reason,
          until: crmWait.until.toISOString(),
          expectedWaitSeconds: Math.ceil((crmWait.until.getTime() - now.getTime()) / 1000),
        };
      if (deps.deliverability !== undefined) report.deliverability = deps.deliverability(id);
      if (ab !== null) report.abTest = ab;
      return report;
    },
    async abTest(id) {
      const c = await mustGet(id);
      const ab = await abStatus(db, c, deps.revenueOf);
      if (ab === null) throw new SwitchyardError('NOT_FOUND', `campaign ${id} has no A/B test`);
      return ab;
    },
    async pickWinner(id, variant) {
      const c = await mustGet(id);
      const t = c.definition.abTest;
      if (t === undefined) throw new SwitchyardError('NOT_FOUND', `campaign ${id} has no A/B test`);
      if (!Number.isInteger(variant) || variant < 0 || variant >= t.variants.length)
        throw new SwitchyardError('VALIDATION_FAILED', `variant must be 0 to ${t.variants.length - 1}, got ${variant}`);
      if (c.abPhase !== 'testing' || (c.status !== 'running' && c.status !== 'paused'))
        throw new SwitchyardError(
          'CAMPAIGN_STATE_CONFLICT',
          `campaign ${id}'s A/B test is ${c.abPhase ?? 'not started'} (${c.status}); `
            + 'a winner can be picked only while it is testing',
        );
      if (!c.selectDone)
        throw new SwitchyardError(
          'CAMPAIGN_STATE_CONFLICT',
          `campaign ${id}'s test share is still being selected; a winner can be picked once it has been read`,
        );
      const look = decide(await cellCounts(db, c, deps.revenueOf), decisionOptions(t));
      const chosen = await chooseWinner(deps, c, {
        variant,
        how: 'manual',
        reason: `picked by hand (the test said: ${look.reason})`,
        cells: look.cells,
        pairs: look.pairs,
        threshold: look.threshold,
      });
      if (!chosen)
        throw new SwitchyardError('CAMPAIGN_STATE_CONFLICT', `campaign ${id}'s A/B test was decided meanwhile`);
      return (await abStatus(db, await mustGet(id), deps.revenueOf))!;
    },
  };
}
