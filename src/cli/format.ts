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
  return lines;
}
