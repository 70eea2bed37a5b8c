/**
 * Validates a segment definition received as JSON. Every problem is reported (not only the first),
 * each with the path of the bad part, so a user fixes a definition in one go. A definition that
 * passes is safe for both compilers: numbers finite, strings bounded, sizes bounded, no unknown keys.
 */
import {
  MAX_CAMPAIGN_LOOKBACK,
  type SegmentCondition,
  type SegmentProblem,
  TIME_UNITS,
  type TimeUnit,
} from './types.ts';

const MAX_DEPTH = 32;
const MAX_NODES = 1000;
const MAX_TEXT = 1000;
const MAX_IN_VALUES = 1000;
const MAX_OFFSET_MS = 100 * 366 * 86_400_000;
const ATTRIBUTE_OPERATORS = ['equals', 'in', 'range', 'exists', 'matches', 'within'] as const;
const KINDS = ['and', 'or', 'not', 'attribute', 'clicked', 'opened', 'inList'] as const;

export type SegmentValidation = { ok: true; definition: SegmentCondition } | { ok: false; problems: SegmentProblem[] };

export function validateSegment(input: unknown): SegmentValidation {
  const problems: SegmentProblem[] = [];
  const state = { nodes: 0 };
  checkCondition(input, '$', 0, problems, state);
  return problems.length === 0 ? { ok: true, definition: input as SegmentCondition } : { ok: false, problems };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): boolean {
  return (typeof v === 'string' && v.length <= MAX_TEXT) || typeof v === 'boolean' || Number.isFinite(v);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], path: string, out: SegmentProblem[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k))
      out.push({ path: `${path}.${k}`, message: `unknown key (allowed: ${allowed.join(', ')})` });
  }
}

function checkText(v: unknown, path: string, out: SegmentProblem[], what: string): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT) {
    out.push({ path, message: `${what} must be a non-empty string of at most ${MAX_TEXT} characters` });
  }
}

function checkInteger(v: unknown, path: string, min: number, max: number, out: SegmentProblem[]): void {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
    out.push({ path, message: `must be an integer from ${min} to ${max}` });
  }
}

function checkCondition(
  input: unknown,
  path: string,
  depth: number,
  out: SegmentProblem[],
  state: { nodes: number },
): void {
  state.nodes += 1;
  if (state.nodes === MAX_NODES + 1)
    out.push({ path, message: `a definition may have at most ${MAX_NODES} conditions` });
  if (depth > MAX_DEPTH) {
    out.push({ path, message: `conditions may nest at most ${MAX_DEPTH} deep` });
    return;
  }
  if (!isObject(input)) {
    out.push({ path, message: 'a condition must be an object' });
    return;
  }
  const kinds = KINDS.filter((k) => k in input);
  if (kinds.length !== 1) {
    const message =
      kinds.length === 0
        ? `a condition needs one of: ${KINDS.join(', ')}`
        : `a condition has exactly one of ${kinds.join(', ')}`;
    out.push({ path, message });
    return;
  }
  const kind = kinds[0] as (typeof KINDS)[number];
  switch (kind) {
    case 'and':
    case 'or': {
      onlyKeys(input, [kind], path, out);
      const list = input[kind];
      if (!Array.isArray(list) || list.length === 0) {
        out.push({ path: `${path}.${kind}`, message: 'must be a non-empty array of conditions' });
        return;
      }
      for (const [i, c] of list.entries()) checkCondition(c, `${path}.${kind}[${i}]`, depth + 1, out, state);
      return;
    }
    case 'not':
      onlyKeys(input, ['not'], path, out);
      checkCondition(input.not, `${path}.not`, depth + 1, out, state);
      return;
    case 'inList':
      onlyKeys(input, ['inList'], path, out);
      checkText(input.inList, `${path}.inList`, out, 'a list id');
      return;
    case 'clicked':
      onlyKeys(input, ['clicked'], path, out);
      checkClicked(input.clicked, `${path}.clicked`, out);
      return;
    case 'opened':
      onlyKeys(input, ['opened'], path, out);
      checkOpened(input.opened, `${path}.opened`, out);
      return;
    case 'attribute':
      checkAttribute(input, path, out);
      return;
  }
}

function checkClicked(v: unknown, path: string, out: SegmentProblem[]): void {
  if (!isObject(v)) {
    out.push({ path, message: 'must be an object { tag?, withinDays }' });
    return;
  }
  onlyKeys(v, ['tag', 'withinDays'], path, out);
  if (v.tag !== undefined) checkText(v.tag, `${path}.tag`, out, 'a tag');
  checkInteger(v.withinDays, `${path}.withinDays`, 1, 3650, out);
}

function checkOpened(v: unknown, path: string, out: SegmentProblem[]): void {
  if (!isObject(v)) {
    out.push({ path, message: 'must be an object { atLeast, ofLast }' });
    return;
  }
  onlyKeys(v, ['atLeast', 'ofLast'], path, out);
  checkInteger(v.ofLast, `${path}.ofLast`, 1, MAX_CAMPAIGN_LOOKBACK, out);
  const max = Number.isInteger(v.ofLast) ? (v.ofLast as number) : MAX_CAMPAIGN_LOOKBACK;
  checkInteger(v.atLeast, `${path}.atLeast`, 1, max, out);
}

function checkAttribute(input: Record<string, unknown>, path: string, out: SegmentProblem[]): void {
  checkText(input.attribute, `${path}.attribute`, out, 'an attribute name');
  const ops = ATTRIBUTE_OPERATORS.filter((k) => k in input);
  onlyKeys(input, ['attribute', ...ATTRIBUTE_OPERATORS], path, out);
  if (ops.length !== 1) {
    out.push({ path, message: `an attribute condition has exactly one of: ${ATTRIBUTE_OPERATORS.join(', ')}` });
    return;
  }
  const op = ops[0] as (typeof ATTRIBUTE_OPERATORS)[number];
  const at = `${path}.${op}`;
  const v = input[op];
  switch (op) {
    case 'equals':
      if (!isScalar(v)) out.push({ path: at, message: 'must be a string, a finite number or a boolean' });
      return;
    case 'in':
      if (!Array.isArray(v) || v.length === 0 || v.length > MAX_IN_VALUES) {
        out.push({ path: at, message: `must be an array of 1 to ${MAX_IN_VALUES} values` });
        return;
      }
      v.forEach((x, i) => {
        if (!isScalar(x)) out.push({ path: `${at}[${i}]`, message: 'must be a string, a finite number or a boolean' });
      });
      return;
    case 'exists':
      if (typeof v !== 'boolean') out.push({ path: at, message: 'must be true or false' });
      return;
    case 'range':
      checkRange(v, at, out);
      return;
    case 'matches':
      checkMatches(v, at, out);
      return;
    case 'within':
      checkWithin(v, at, out);
      return;
  }
}

function checkRange(v: unknown, path: string, out: SegmentProblem[]): void {
  if (!isObject(v)) {
    out.push({ path, message: 'must be an object with gt, gte, lt or lte' });
    return;
  }
  onlyKeys(v, ['gt', 'gte', 'lt', 'lte'], path, out);
  const bounds = (['gt', 'gte', 'lt', 'lte'] as const).filter((k) => v[k] !== undefined);
  if (bounds.length === 0) out.push({ path, message: 'needs at least one of gt, gte, lt, lte' });
  for (const b of bounds) {
    if (!Number.isFinite(v[b])) out.push({ path: `${path}.${b}`, message: 'must be a finite number' });
  }
  if (v.gt !== undefined && v.gte !== undefined) out.push({ path, message: 'gt and gte together' });
  if (v.lt !== undefined && v.lte !== undefined) out.push({ path, message: 'lt and lte together' });
}

function checkMatches(v: unknown, path: string, out: SegmentProblem[]): void {
  if (!isObject(v)) {
    out.push({ path, message: 'must be an object with contains, startsWith or endsWith' });
    return;
  }
  onlyKeys(v, ['contains', 'startsWith', 'endsWith', 'ignoreCase'], path, out);
  const texts = (['contains', 'startsWith', 'endsWith'] as const).filter((k) => v[k] !== undefined);
  if (texts.length !== 1) out.push({ path, message: 'needs exactly one of contains, startsWith, endsWith' });
  for (const t of texts) {
    if (typeof v[t] !== 'string' || (v[t] as string).length > MAX_TEXT) {
      out.push({ path: `${path}.${t}`, message: `must be a string of at most ${MAX_TEXT} characters` });
    }
  }
  if (v.ignoreCase !== undefined && typeof v.ignoreCase !== 'boolean') {
    out.push({ path: `${path}.ignoreCase`, message: 'must be true or false' });
  }
}

function checkWithin(v: unknown, path: string, out: SegmentProblem[]): void {
  if (!isObject(v)) {
    out.push({ path, message: 'must be an object { from?, to?, unit }' });
    return;
  }
  onlyKeys(v, ['from', 'to', 'unit'], path, out);
  if (typeof v.unit !== 'string' || !(v.unit in TIME_UNITS)) {
    out.push({ path: `${path}.unit`, message: `must be one of ${Object.keys(TIME_UNITS).join(', ')}` });
  }
  if (v.from === undefined && v.to === undefined) out.push({ path, message: 'needs from, to or both' });
  // bounded so now ± the offset stays a valid date (100 years either way)
  const unitMs = typeof v.unit === 'string' && v.unit in TIME_UNITS ? TIME_UNITS[v.unit as TimeUnit] : 60_000;
  const max = Math.floor(MAX_OFFSET_MS / unitMs);
  for (const k of ['from', 'to'] as const) {
    if (v[k] !== undefined) checkInteger(v[k], `${path}.${k}`, -max, max, out);
  }
  if (Number.isInteger(v.from) && Number.isInteger(v.to) && (v.from as number) > (v.to as number)) {
    out.push({ path, message: 'from must not be after to' });
  }
}
