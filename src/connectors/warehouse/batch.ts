/**
 * Small helpers shared by the warehouse adapters: option checks, so every adapter refuses the
 * same bad options with the same VALIDATION_FAILED message.
 */
import { SwitchyardError } from '../../core/errors.ts';

export function checkBatchSize(batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new SwitchyardError('VALIDATION_FAILED', `batchSize must be an integer ≥ 1, got ${batchSize}`);
  }
  return batchSize;
}
