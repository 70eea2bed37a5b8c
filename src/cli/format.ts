/**
 * Human-readable output of the campaign commands: a table for lists, a few lines for a status.
 * Pure, over the JSON the admin API returns (`--json` prints that JSON unchanged instead).
 */

/** The parts of GET /v1/campaigns/:id/status the formatters read; newer fields are optional. */
export interface StatusView {
  campaign: {
    id: string;
    status: string;
    statusReason: string | null;
    selected: number;
    selectDone: boolean;
    definition?: { name?: string };
    startedAt?: string | null;
    finishedAt?: string | null;
  };
  counts: Record<string, number>;
  reasons?: Record<string, number>;
  stages?: { topic: string; group: string; pending: number; inFlight: number; retrying: number }[];
  ratePerSecond: number;
  etaSeconds: number | null;
  deliverability?: {
    ratePerSec: number | null;
    deferralPct: number;
    bounceHardPct: number;
    complaintPct: number;
    breaker: { state: string; reason: string | null } | null;
    heldUntil: string | null;
  } | null;
  /** Absent from servers that predate it: then selectDone stands for audienceKnown. */
  progress?: {
    audienceKnown: boolean;
    stalledSince: string | null;
    waitingOnCrm?: { reason: string; until: string; expectedWaitSeconds: number };
  };
  abTest?: AbTestView;
}

export interface CampaignRow {
  id: string;
  status: string;
  selected: number;
  createdAt: string;
  definition?: { name?: string };
}

/** Outcomes that end a contact's way through the campaign. */
const HANDLED = [
  'sent',
  'delivered',
  'bounced',
  'failed',
  'suppressed',
  'capped',
  'cancelled',
  'unknown',
  'complained',
  'deferred',
];

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

/** ISO time without milliseconds, "2026-12-06 22:40:01Z". */
function when(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatCampaignList(rows: readonly CampaignRow[]): string[] {
  if (rows.length === 0) return ['no campaigns yet: `switchyard campaign demo` runs the demo one'];
  return table(
    ['ID', 'STATUS', 'SELECTED', 'CREATED', 'NAME'],
    rows.map((c) => [c.id, c.status, num(c.selected), when(c.createdAt), c.definition?.name ?? '']),
  );
}

function handledOf(s: StatusView): number {
  return HANDLED.reduce((n, k) => n + (s.counts[k] ?? 0), 0);
}

/** "still reading the audience", "stalled since …", an ETA, or nothing once it has ended. */
function pace(s: StatusView): string {
  const audienceKnown = s.progress?.audienceKnown ?? s.campaign.selectDone;
  const parts = [`${s.ratePerSecond} msgs/s`];
  const crm = s.progress?.waitingOnCrm;
  if (crm !== undefined && s.campaign.status === 'running')
    parts.push(`${crm.reason}, about ${duration(crm.expectedWaitSeconds)} more`);
  if (!audienceKnown) parts.push('still reading the audience');
  else if (s.progress?.stalledSince) parts.push(`stalled since ${when(s.progress.stalledSince)}`);
  else if (s.etaSeconds !== null && s.campaign.status === 'running') parts.push(`ETA ${duration(s.etaSeconds)}`);
  return parts.join(', ');
}

/** One line: a bar of handled / selected, the rate and what comes next; for the watcher. */
export function progressLine(s: StatusView, width = 30): string {
  const done = handledOf(s);
  const audienceKnown = s.progress?.audienceKnown ?? s.campaign.selectDone;
  const bar = audienceKnown
    ? (() => {
        const total = Math.max(s.campaign.selected, done, 1);
        const filled = Math.min(width, Math.round((done / total) * width));
        return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${num(done)}/${num(total)}`;
      })()
    : `${num(done)} handled, ${num(s.campaign.selected)} selected so far`;
  return `${bar} ${s.campaign.status}, ${pace(s)}`;
}

/** A few lines: what the campaign is doing, how far, how fast, and how delivery goes. */
export function formatStatus(s: StatusView): string[] {
  const c = s.campaign;
  const name = c.definition?.name;
  const lines = [
    `${name === undefined ? c.id : `${name} (${c.id})`}: ${c.status}${c.statusReason ? ` — ${c.statusReason}` : ''}`,
  ];
  const done = handledOf(s);
  const audienceKnown = s.progress?.audienceKnown ?? c.selectDone;
  if (audienceKnown) {
    const total = Math.max(c.selected, done);
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    lines.push(`  progress   ${num(done)} of ${num(total)} handled (${pct}%); ${pace(s)}`);
  } else {
    lines.push(`  progress   ${num(done)} handled, ${num(c.selected)} selected so far; ${pace(s)}`);
  }
  const counts = Object.entries(s.counts)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]);
  lines.push(`  outcomes   ${counts.length === 0 ? 'none yet' : counts.map(([k, v]) => `${k} ${num(v)}`).join(', ')}`);
  const reasons = Object.entries(s.reasons ?? {})
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);
  if (reasons.length > 0) lines.push(`  reasons    ${reasons.map(([k, v]) => `${k} ${num(v)}`).join(', ')}`);
  const busy = (s.stages ?? []).filter((st) => st.pending + st.inFlight + st.retrying > 0);
  if (busy.length > 0)
    lines.push(
      `  queued     ${busy
        .map(
          (st) => `${st.group} ${num(st.pending + st.inFlight)}${st.retrying > 0 ? ` (${st.retrying} retrying)` : ''}`,
        )
        .join(', ')}`,
    );
  const d = s.deliverability;
  if (d !== undefined && d !== null) {
    const breaker =
      d.breaker === null ? '' : `breaker ${d.breaker.state}${d.breaker.reason ? ` (${d.breaker.reason})` : ''}; `;
    const held = d.heldUntil === null ? '' : `; held until ${when(d.heldUntil)}`;
    lines.push(
      `  delivery   ${breaker}deferrals ${d.deferralPct}%, hard bounces ${d.bounceHardPct}%, `
        + `complaints ${d.complaintPct}%${d.ratePerSec === null ? '' : `; rate limit ${d.ratePerSec}/s`}${held}`,
    );
  }
  const ab = s.abTest;
  if (ab !== undefined) {
    const state =
      ab.decision !== null
        ? `winner: variant ${ab.decision.variant} (${ab.decision.how})`
        : ab.testSentAt === null
          ? 'sending the test share'
          : `waiting for a winner until ${when(ab.deadline ?? ab.testSentAt)}; ${ab.live.reason}`;
    lines.push(`  a/b test   ${state} (\`switchyard campaign ab-test ${c.id}\` for the numbers)`);
  }
  return lines;
}

/** The A/B test as the API returns it (src/campaigns/ab-test.ts AbStatus). */
export interface AbTestView {
  phase: string | null;
  metric: string;
  testShare: number;
  variants: { index: number; name: string }[];
  testSentAt: string | null;
  deadline: string | null;
  live: {
    winner: number | null;
    reason: string;
    cells: { sends: number; conversions: number; rate: number; interval: [number, number] }[];
    pairs: { a: number; b: number; difference: number; pValue: number; interval: [number, number] }[];
    threshold: number;
  };
  decision: { variant: number; how: string; reason: string; at: string } | null;
  rule: { alpha: number; tau: number; minSamplePerCell: number; lowerWins: boolean };
}

const pct = (x: number, digits = 2): string => `${(x * 100).toFixed(digits)}%`;

export function formatAbTest(t: AbTestView): string[] {
  const lines = [
    `A/B test on ${t.metric.replace('_', ' ')} (${t.rule.lowerWins ? 'lower' : 'higher'} wins), test share `
      + `${pct(t.testShare, 0)}: ${t.phase ?? 'not started'}`,
  ];
  const rows = t.variants.map((v) => {
    const c = t.live.cells[v.index] ?? { sends: 0, conversions: 0, rate: 0, interval: [0, 1] as [number, number] };
    return [
      String(v.index),
      v.name,
      num(c.sends),
      num(c.conversions),
      pct(c.rate),
      `${pct(c.interval[0])}–${pct(c.interval[1])}`,
    ];
  });
  lines.push(...table(['#', 'variant', 'sent', 'converted', 'rate', '95% interval'], rows).map((l) => `  ${l}`));
  for (const p of t.live.pairs)
    lines.push(
      `  ${p.b} vs ${p.a}: difference ${pct(p.difference)} (always-valid interval ${pct(p.interval[0])} to `
        + `${pct(p.interval[1])}), p ${p.pValue < 0.0001 ? '< 0.0001' : p.pValue.toFixed(4)}`,
    );
  lines.push(
    `  rule       mSPRT, α ${t.rule.alpha} over ${t.live.pairs.length} comparison(s), `
      + `≥ ${num(t.rule.minSamplePerCell)} per variant; now: ${t.live.reason}`,
  );
  if (t.deadline !== null && t.decision === null) lines.push(`  deadline   ${when(t.deadline)} (then the fallback)`);
  if (t.decision !== null)
    lines.push(
      `  decided    variant ${t.decision.variant} (${t.decision.how}) at ${when(t.decision.at)}: ${t.decision.reason}`,
    );
  return lines;
}
