/**
 * Send priorities. Each has its own ready topic and send consumers, so transactional mail never
 * waits behind a bulk blast.
 */

export const PRIORITIES = ['transactional', 'triggered', 'bulk'] as const;
export type Priority = (typeof PRIORITIES)[number];
