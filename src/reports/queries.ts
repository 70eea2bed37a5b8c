/** The executive reports' SQL (report_schedules, report_runs: migration 0051). Private to src/reports/. */
import type { Queryable } from '../store/port.ts';

/** The newest scheduled time already claimed for a report, created at `initial` on first sight and locked. */
export async function lockSchedule(tx: Queryable, name: string, initial: Date): Promise<Date> {
  await tx.query('insert into report_schedules (name, last_scheduled_at) values ($1, $2) on conflict do nothing', [
    name,
    initial,
  ]);
  const { rows } = await tx.query<{ last_scheduled_at: Date }>(
    'select last_scheduled_at from report_schedules where name = $1 for update',
    [name],
  );
  return (rows[0] as { last_scheduled_at: Date }).last_scheduled_at;
}

export async function advanceSchedule(tx: Queryable, name: string, to: Date): Promise<void> {
  await tx.query('update report_schedules set last_scheduled_at = $2 where name = $1', [name, to]);
}

/** Claims (report, scheduled time); false when it was claimed before (then nothing is built again). */
export async function claimRun(
  tx: Queryable,
  name: string,
  scheduledAt: Date,
  trigger: 'schedule' | 'manual',
  at: Date,
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `insert into report_runs (name, scheduled_at, trigger, claimed_at) values ($1, $2, $3, $4) on conflict do nothing`,
    [name, scheduledAt, trigger, at],
  );
  return rowCount === 1;
}

export interface RunRow {
  name: string;
  scheduled_at: Date;
  trigger: 'schedule' | 'manual';
  claimed_at: Date;
  sent_at: Date | null;
  recipients: number;
}

/** Claimed runs whose emails were not all queued yet (a crash mid-run), oldest first. */
export async function unsentRuns(db: Queryable, limit: number): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>(
    `select name, scheduled_at, trigger, claimed_at, sent_at, recipients from report_runs
     where sent_at is null order by claimed_at, name limit $1`,
    [limit],
  );
  return rows;
}

export async function getRun(db: Queryable, name: string, scheduledAt: Date): Promise<RunRow | null> {
  const { rows } = await db.query<RunRow>(
    `select name, scheduled_at, trigger, claimed_at, sent_at, recipients from report_runs
     where name = $1 and scheduled_at = $2`,
    [name, scheduledAt],
  );
  return rows[0] ?? null;
}

export async function markSent(
  db: Queryable,
  name: string,
  scheduledAt: Date,
  recipients: number,
  pdf: Buffer,
  at: Date,
) {
  await db.query(
    'update report_runs set sent_at = $3, recipients = $4, pdf = $5 where name = $1 and scheduled_at = $2',
    [name, scheduledAt, at, recipients, pdf],
  );
}

export async function runPdf(db: Queryable, name: string, scheduledAt: Date): Promise<Buffer | null> {
  const { rows } = await db.query<{ pdf: Uint8Array | null }>(
    'select pdf from report_runs where name = $1 and scheduled_at = $2',
    [name, scheduledAt],
  );
  const pdf = rows[0]?.pdf;
  return pdf === undefined || pdf === null ? null : Buffer.from(pdf);
}
