/**
 * Operator view and manual edits of one address's suppression: is it suppressed here, why, and
 * has every connected system confirmed it (suppression_propagations). Manual add suppresses and
 * queues propagation in one transaction (the CLI has no bus, so it writes the rows the
 * `propagation` consumer would); manual remove lifts the local suppression only — the other
 * systems keep their opt-out, because mailing again needs fresh consent, not a reverse sync.
 */
import { SwitchyardError } from '../core/errors.ts';
import type { Db, Queryable } from '../store/port.ts';
import { enqueuePropagations, PROPAGATION_SYSTEMS } from './propagation.ts';
import {
  addSuppressions,
  getSuppression,
  normalizeEmail,
  removeSuppression,
  SUPPRESSION_REASONS,
  type SuppressionReason,
} from './suppression.ts';

export interface SystemPropagation {
  system: string;
  status: 'pending' | 'confirmed' | 'failed';
  attempts: number;
  confirmedAt: Date | null;
  lastError: string | null;
  /** When a pending row is tried next. */
  nextAttemptAt: Date | null;
}

export interface SuppressionStatus {
  email: string;
  suppressed: { reason: string; source: string; at: Date } | null;
  systems: SystemPropagation[];
}

const PROPAGATIONS = `
  select system, status, attempts, confirmed_at, last_error, next_attempt_at
  from suppression_propagations where email = $1 order by system`;

export async function getSuppressionStatus(db: Queryable, email: string): Promise<SuppressionStatus> {
  const address = checkEmail(email);
  const s = await getSuppression(db, address);
  const { rows } = await db.query<{
    system: string;
    status: SystemPropagation['status'];
    attempts: number;
    confirmed_at: Date | null;
    last_error: string | null;
    next_attempt_at: Date;
  }>(PROPAGATIONS, [address]);
  return {
    email: address,
    suppressed: s === null ? null : { reason: s.reason, source: s.source, at: s.createdAt },
    systems: rows.map((r) => ({
      system: r.system,
      status: r.status,
      attempts: Number(r.attempts),
      confirmedAt: r.confirmed_at === null ? null : new Date(r.confirmed_at),
      lastError: r.last_error,
      nextAttemptAt: r.status === 'pending' ? new Date(r.next_attempt_at) : null,
    })),
  };
}

/**
 * Suppresses an address by hand and queues its propagation to `systems`. Idempotent: an address
 * already suppressed keeps its first reason; systems that had failed are queued again (this is
 * also how an operator retries a failed propagation).
 */
export async function addManualSuppression(
  db: Db,
  input: { email: string; reason?: string; source?: string; contactId?: string },
  now: Date,
  systems: readonly string[] = PROPAGATION_SYSTEMS,
): Promise<{ added: boolean; queued: number }> {
  const email = checkEmail(input.email);
  const reason = (input.reason ?? 'manual') as SuppressionReason;
  if (!SUPPRESSION_REASONS.includes(reason)) {
    throw new SwitchyardError(
      'VALIDATION_FAILED',
      `suppression reason "${input.reason}" is not one of ${SUPPRESSION_REASONS.join(', ')}`,
    );
  }
  return db.transaction(async (tx) => {
    const added = await addSuppressions(
      tx,
      [
        {
          email,
          reason,
          source: input.source ?? 'cli',
          ...(input.contactId === undefined ? {} : { contactId: input.contactId }),
        },
      ],
      now,
    );
    const current = await getSuppression(tx, email);
    const queued = await enqueuePropagations(
      tx,
      [
        {
          email,
          reason: current?.reason ?? reason,
          ...(input.contactId === undefined ? {} : { contactId: input.contactId }),
        },
      ],
      systems,
      now,
    );
    return { added: added.length === 1, queued };
  });
}

/** Lifts the local suppression and forgets its propagation rows; false when it was not suppressed. */
export async function removeManualSuppression(db: Db, email: string): Promise<boolean> {
  const address = checkEmail(email);
  return db.transaction(async (tx) => {
    const removed = await removeSuppression(tx, address);
    await tx.query('delete from suppression_propagations where email = $1', [address]);
    return removed;
  });
}

function checkEmail(email: string): string {
  const address = normalizeEmail(String(email));
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address))
    throw new SwitchyardError('VALIDATION_FAILED', `"${email}" is not an email address`);
  return address;
}
