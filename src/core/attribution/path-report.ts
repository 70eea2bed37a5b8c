/**
 * The `switchyard attribution paths` answer: one model over a path file, as one JSON-ready
 * object `{ model, channels: { name: { conversions, value, removal_effect? } }, totals }`.
 */
import { markovAttribution } from './markov.ts';
import { heuristicAttribution, type PathRow, totalsOf } from './paths.ts';

export const PATH_MODELS = ['first', 'last', 'linear', 'markov'] as const;
export type PathModel = (typeof PATH_MODELS)[number];

export function isPathModel(s: string): s is PathModel {
  return (PATH_MODELS as readonly string[]).includes(s);
}

export interface PathReport {
  model: PathModel;
  channels: Record<string, { conversions: number; value: number; removal_effect?: number }>;
  totals: { conversions: number; value: number };
}

export function pathReport(rows: readonly PathRow[], model: PathModel, options: { useNulls: boolean }): PathReport {
  const channels: PathReport['channels'] = {};
  if (model === 'markov') {
    const r = markovAttribution(rows, { useNulls: options.useNulls });
    for (const [c, e] of r.channels) {
      channels[c] = { conversions: e.conversions, value: e.value, removal_effect: e.removalEffect };
    }
    return { model, channels, totals: r.totals };
  }
  for (const [c, e] of heuristicAttribution(rows, model)) channels[c] = { conversions: e.conversions, value: e.value };
  return { model, channels, totals: totalsOf(rows) };
}
