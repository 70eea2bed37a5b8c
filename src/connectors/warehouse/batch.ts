/**
 * Option checks shared by the warehouse adapters, so every adapter refuses the same bad options
 * with the same message. Limits the campaign input schema shares are in core/audience-limits.ts.
 */
import { SwitchyardError } from '../../core/errors.ts';

export function checkBatchSize(batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new SwitchyardError('VALIDATION_FAILED', `batchSize must be an integer ≥ 1, got ${batchSize}`);
  }
  return batchSize;
}
