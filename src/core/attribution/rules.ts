/**
 * Rule-based attribution of one journey (attribution.md §2): the credit each touch gets of a
 * conversion worth `value`. Every model returns one credit per touch, in touch order, summing to
 * `value` (a journey with no touch gets nothing: the conversion is unattributed).
 *
 * Conventions where the sources leave a choice:
 * - FT defaults to the first touch and CW to the last when no touch carries that milestone; LC and
 *   OC come only from milestones. A missing milestone's share is spread over the present anchors
 *   in proportion to their shares, so the credits still sum to the value.
 * - A touch holding several milestones gets each of their shares.
 * - The "other touches" share goes evenly to non-anchor touches (W-shaped: only those before OC);
 *   when there are none it is split evenly over the anchors.
 */

export const MILESTONES = ['FT', 'LC', 'OC', 'CW'] as const;
export type Milestone = (typeof MILESTONES)[number];

export interface Touch {
  readonly channel: string;
  /** Epoch milliseconds. */
  readonly ts: number;
  readonly milestone?: Milestone;
}

export type RuleModel =
  | { readonly kind: 'first' }
  | { readonly kind: 'last'; readonly skipChannels?: readonly string[] }
  | { readonly kind: 'linear' }
  | { readonly kind: 'time-decay'; readonly halfLifeDays: number }
  | { readonly kind: 'u-shape'; readonly secondAnchor?: 'last' | 'LC' }
  | { readonly kind: 'w-shape' }
  | { readonly kind: 'full-path' }
  | { readonly kind: 'positions'; readonly first: number; readonly middle: number; readonly last: number };

export const RULE_MODEL_NAMES = [
  'first',
  'last',
  'linear',
  'time-decay',
  'u-shape',
  'w-shape',
  'full-path',
  'positions',
] as const;

const DAY_MS = 86_400_000;

/** Credits per touch for one conversion at `conversionTs` worth `value`. */
export function creditTouches(
  touches: readonly Touch[],
  conversionTs: number,
  value: number,
  model: RuleModel,
): number[] {
  const n = touches.length;
  const credits = new Array<number>(n).fill(0);
  if (n === 0) return credits;
  switch (model.kind) {
    case 'first':
      credits[0] = value;
      return credits;
    case 'last': {
      const skip = new Set(model.skipChannels ?? []);
      let i = n - 1;
      while (i > 0 && skip.has((touches[i] as Touch).channel)) i--;
      credits[i] = value;
      return credits;
    }
    case 'linear':
      return credits.map(() => value / n);
    case 'time-decay': {
      if (!(model.halfLifeDays > 0)) throw new RangeError('halfLifeDays must be positive');
      const w = touches.map((t) => 2 ** (-Math.max(0, conversionTs - t.ts) / DAY_MS / model.halfLifeDays));
      const sum = w.reduce((a, b) => a + b, 0);
      return w.map((x) => (value * x) / sum);
    }
    case 'positions':
      return positions(n, value, model.first, model.middle, model.last);
    case 'u-shape': {
      if (model.secondAnchor !== 'LC') return positions(n, value, 0.4, 0.2, 0.4);
      return anchored(
        touches,
        value,
        [
          ['FT', 0.4],
          ['LC', 0.4],
        ],
        0.2,
        n,
      );
    }
    case 'w-shape': {
      const oc = touches.findIndex((t) => t.milestone === 'OC');
      return anchored(
        touches,
        value,
        [
          ['FT', 0.3],
          ['LC', 0.3],
          ['OC', 0.3],
        ],
        0.1,
        oc === -1 ? n : oc,
      );
    }
    case 'full-path':
      return anchored(
        touches,
        value,
        [
          ['FT', 0.225],
          ['LC', 0.225],
          ['OC', 0.225],
          ['CW', 0.225],
        ],
        0.1,
        n,
      );
  }
}

/** First, middle (split evenly) and last shares; n = 1 takes all, n = 2 splits first:last. */
function positions(n: number, value: number, first: number, middle: number, last: number): number[] {
  const total = first + middle + last;
  if (!(total > 0) || first < 0 || middle < 0 || last < 0) {
    throw new RangeError('position weights must be non-negative with a positive sum');
  }
  if (n === 1) return [value];
  if (n === 2) {
    const ends = first + last;
    return ends > 0 ? [(value * first) / ends, (value * last) / ends] : [value / 2, value / 2];
  }
  const credits = new Array<number>(n).fill((value * middle) / total / (n - 2));
  credits[0] = (value * first) / total;
  credits[n - 1] = (value * last) / total;
  return credits;
}

function anchorIndex(touches: readonly Touch[], m: Milestone): number {
  const i = touches.findIndex((t) => t.milestone === m);
  if (i !== -1) return i;
  if (m === 'FT') return 0;
  if (m === 'CW') return touches.length - 1;
  return -1;
}

/** Anchor shares to milestone touches, `rest` over the non-anchor touches before index `otherEnd`. */
function anchored(
  touches: readonly Touch[],
  value: number,
  anchors: ReadonlyArray<readonly [Milestone, number]>,
  rest: number,
  otherEnd: number,
): number[] {
  const n = touches.length;
  const credits = new Array<number>(n).fill(0);
  const present = anchors.map(([m, share]) => [anchorIndex(touches, m), share] as const).filter(([i]) => i >= 0);
  const anchorSet = new Set(present.map(([i]) => i));
  const others: number[] = [];
  for (let i = 0; i < otherEnd; i++) if (!anchorSet.has(i)) others.push(i);
  const anchorShare = present.reduce((a, [, s]) => a + s, 0);
  const fullAnchor = anchors.reduce((a, [, s]) => a + s, 0);
  // missing anchors: their share is spread over the present ones in proportion
  const scale = (fullAnchor / anchorShare) * (1 - rest);
  const restTargets = others.length > 0 ? others : [...anchorSet];
  for (const [i, share] of present) credits[i] = (credits[i] as number) + (value * share * scale) / fullAnchor;
  for (const i of restTargets) credits[i] = (credits[i] as number) + (value * rest) / restTargets.length;
  return credits;
}

/** Sums credits per channel. */
export function creditsByChannel(touches: readonly Touch[], credits: readonly number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [i, t] of touches.entries()) out.set(t.channel, (out.get(t.channel) ?? 0) + (credits[i] as number));
  return out;
}

/**
 * Whole minor units that sum exactly to `total` (largest remainder; ties to the earlier touch).
 * Works for negative totals (refunds) by rounding the magnitudes.
 */
export function roundToMinorUnits(credits: readonly number[], total: number): number[] {
  if (!Number.isInteger(total)) throw new RangeError('total must be whole minor units');
  if (credits.length === 0) return [];
  const sign = total < 0 ? -1 : 1;
  const sum = credits.reduce((a, b) => a + b, 0);
  const exact = credits.map((c) => (sum === 0 ? Math.abs(total) / credits.length : (Math.abs(total) * c) / sum));
  const floors = exact.map((x) => Math.floor(x + 1e-9));
  let left = Math.abs(total) - floors.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x + 1e-9), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    floors[i] = (floors[i] as number) + 1;
    left--;
  }
  return floors.map((x) => sign * x);
}

/**
 * A refund reverses what it undoes: the adjustment is spread over the touches in the same
 * proportions as the original conversion's credits (a full refund cancels them exactly).
 */
export function refundCredits(original: readonly number[], originalValue: number, refunded: number): number[] {
  if (originalValue === 0) return original.map(() => 0);
  return original.map((c) => (-refunded * c) / originalValue);
}
