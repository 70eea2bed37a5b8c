/**
 * A faster way to evaluate a parsed Liquid template for one recipient, with output identical to
 * liquidjs's renderSync (a property test compares both). liquidjs runs its generator machinery
 * for every `{{ }}`; a newsletter has dozens, in html and text, for every recipient. So at
 * compile time each top-level template becomes a piece: static text (rendered once), a plain
 * variable lookup (`{{ a.b[0] }}` with only `default: '<literal>'` and `raw` filters), a plain
 * `{% for x in a.b %}` or our `sy_track_link` tag whose bodies are such pieces, or anything else
 * (other tags and filters) handed back to liquidjs. A lookup that meets a value this file does not
 * model (Drops, class instances, arrays printed as text, loops over strings or objects) also goes
 * to liquidjs. Templates that mutate the render context (assign, capture, increment, cycle…) are
 * not planned at all: pieces render in separate liquidjs contexts, which would lose that state.
 */
import { ForTag, Output, Tag, TokenKind } from 'liquidjs';
import type { Liquid, Template } from 'liquidjs';
import { SAFE_URL_TAG, TRACK_FN_VAR, TRACK_TAG, trackHref } from './liquid-engine.ts';
import { safeHref } from './url-safety.ts';
import type { TrackFn } from './liquid-engine.ts';

type Segment = string | number;
type Scope = Record<string, unknown>;

export type Piece =
  | { kind: 'static'; text: string }
  | { kind: 'lookup'; path: Segment[]; fallback: string | undefined; escape: boolean; template: Template }
  | { kind: 'for'; variable: string; path: Segment[]; body: Piece[]; otherwise: Piece[]; template: Template }
  | { kind: 'track'; linkIndex: number; body: Piece[]; escape: boolean }
  | { kind: 'safe'; body: Piece[]; escape: boolean }
  | { kind: 'liquid'; templates: Template[] };

export interface FastPlan {
  pieces: Piece[];
}

/** What is left of one message's render time (liquid-engine.ts TemplateLimits). */
export interface RenderBudget {
  /** In `now()` milliseconds. */
  deadline: number;
  now: () => number;
}

/** liquidjs's own wording, so one check (liquid-engine.ts isLimitError) covers both paths. */
const RENDER_LIMIT_MESSAGE = 'template render limit exceeded';

/** renderSync options that give liquidjs only the rest of the budget. */
export function budgetOptions(budget: RenderBudget | undefined): { renderLimit: number } | undefined {
  return budget === undefined ? undefined : { renderLimit: budget.deadline - budget.now() };
}

const CONTEXT_TAGS = /\{%-?\s*(assign|capture|increment|decrement|liquid|cycle|ifchanged|tablerow)\b/;
const PATH = '[A-Za-z_][\\w-]*(?:\\.[A-Za-z_][\\w-]*|\\[\\d+\\])*';
const LOOKUP = new RegExp(`^\\s*(${PATH})\\s*((?:\\|\\s*[^|]+?\\s*)*)$`);
const FOR_ARGS = new RegExp(`^\\s*([A-Za-z_][\\w-]*)\\s+in\\s+(${PATH})\\s*$`);
const DEFAULT_FILTER = /^default\s*:\s*(?:'([^'\\]*)'|"([^"\\]*)")$/;
const SPECIAL_PROPS = new Set(['size', 'first', 'last']);
/** Liquid literals and loop state that look like variable names. */
const RESERVED = new Set(['true', 'false', 'nil', 'null', 'empty', 'blank', 'forloop', 'tablerowloop']);
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const NOT_MODELLED = Symbol('not modelled');

function parsePath(path: string): Segment[] | null {
  const segments: Segment[] = [];
  for (const m of path.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)) {
    if (m[1] !== undefined) {
      if (SPECIAL_PROPS.has(m[1]) || (segments.length === 0 && RESERVED.has(m[1]))) return null;
      segments.push(m[1]);
    } else {
      segments.push(Number(m[2]));
    }
  }
  return segments;
}

function planOutput(tpl: Output, escapeOutput: boolean): Piece | null {
  const m = LOOKUP.exec(tpl.token.content);
  const path = m === null ? null : parsePath(m[1] as string);
  if (m === null || path === null) return null;
  const filters = (m[2] ?? '')
    .split('|')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  let fallback: string | undefined;
  let raw = false;
  for (const [i, f] of filters.entries()) {
    const d = DEFAULT_FILTER.exec(f);
    if (f === 'raw' && i === filters.length - 1) raw = true;
    else if (d !== null && i === 0) fallback = d[1] ?? d[2];
    else return null;
  }
  return { kind: 'lookup', path, fallback, escape: escapeOutput && !raw, template: tpl };
}

/** Every template of a loop or link body as pieces, or null when one of them is not plannable. */
function planAll(engine: Liquid, templates: Template[], escapeOutput: boolean): Piece[] | null {
  const pieces: Piece[] = [];
  for (const tpl of templates) {
    const piece = planOne(engine, tpl, escapeOutput);
    if (piece === null) return null;
    pieces.push(piece);
  }
  return pieces;
}

function planOne(engine: Liquid, tpl: Template, escapeOutput: boolean): Piece | null {
  if (tpl instanceof Output) return planOutput(tpl, escapeOutput);
  if (tpl instanceof ForTag) {
    const m = FOR_ARGS.exec(tpl.token.args);
    const path = m === null ? null : parsePath(m[2] as string);
    if (m === null || path === null || RESERVED.has(m[1] as string)) return null;
    const body = planAll(engine, tpl.templates, escapeOutput);
    const otherwise = planAll(engine, tpl.elseTemplates, escapeOutput);
    if (body === null || otherwise === null) return null;
    return { kind: 'for', variable: m[1] as string, path, body, otherwise, template: tpl };
  }
  if (tpl instanceof Tag && tpl.name === TRACK_TAG) {
    const body = planAll(engine, (tpl as unknown as { body: Template[] }).body, escapeOutput);
    return body === null
      ? null
      : { kind: 'track', linkIndex: (tpl as unknown as { linkIndex: number }).linkIndex, body, escape: escapeOutput };
  }
  if (tpl instanceof Tag && tpl.name === SAFE_URL_TAG) {
    const body = planAll(engine, (tpl as unknown as { body: Template[] }).body, escapeOutput);
    return body === null ? null : { kind: 'safe', body, escape: escapeOutput };
  }
  if (tpl.token.kind === TokenKind.HTML) return { kind: 'static', text: engine.renderSync([tpl], {}) as string };
  return null;
}

/** Plans a parsed template; null when the template must be rendered by liquidjs as a whole. */
export function planTemplate(
  engine: Liquid,
  templates: Template[],
  source: string,
  escapeOutput: boolean,
): FastPlan | null {
  if (CONTEXT_TAGS.test(source)) return null;
  const pieces: Piece[] = [];
  for (const tpl of templates) {
    const planned = planOne(engine, tpl, escapeOutput);
    const last = pieces[pieces.length - 1];
    if (planned?.kind === 'static' && last?.kind === 'static') last.text += planned.text;
    else if (planned !== null) pieces.push(planned);
    else if (last?.kind === 'liquid') last.templates.push(tpl);
    else pieces.push({ kind: 'liquid', templates: [tpl] });
  }
  return { pieces };
}

function isPlainContainer(v: object): boolean {
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (
    (proto === Object.prototype || proto === null)
    && typeof (v as { toLiquid?: unknown }).toLiquid !== 'function'
    && typeof (v as { liquidMethodMissing?: unknown }).liquidMethodMissing !== 'function'
  );
}

/** The value at `path`, or NOT_MODELLED when liquidjs must decide. */
function lookup(scope: Scope, path: Segment[]): unknown {
  let v: unknown = scope;
  for (const seg of path) {
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'object' || !isPlainContainer(v)) return NOT_MODELLED;
    if (Array.isArray(v) !== (typeof seg === 'number')) return NOT_MODELLED;
    // ownPropertyOnly: inherited properties read as nil, as in the engine's settings.
    v = Object.hasOwn(v, seg) ? (v as Record<Segment, unknown>)[seg] : undefined;
  }
  return v;
}

const NEEDS_ESCAPE = /[&<>"']/;

function escapeHtml(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string) : s;
}

function renderPieces(engine: Liquid, pieces: Piece[], scope: Scope, budget: RenderBudget | undefined): string {
  let out = '';
  for (const piece of pieces) {
    switch (piece.kind) {
      case 'static':
        out += piece.text;
        break;
      case 'liquid':
        out += engine.renderSync(piece.templates, scope, budgetOptions(budget)) as string;
        break;
      case 'track': {
        const rendered = renderPieces(engine, piece.body, scope, budget);
        out += trackHref(rendered, piece.escape, scope[TRACK_FN_VAR] as TrackFn | undefined, piece.linkIndex);
        break;
      }
      case 'safe':
        out += safeHref(renderPieces(engine, piece.body, scope, budget), piece.escape);
        break;
      case 'for': {
        const list = lookup(scope, piece.path);
        if (list === null || list === undefined || (Array.isArray(list) && list.length === 0)) {
          out += renderPieces(engine, piece.otherwise, scope, budget);
        } else if (Array.isArray(list)) {
          // The loop variable is set on the scope and put back after (no object copy per item).
          const had = Object.hasOwn(scope, piece.variable);
          const saved = scope[piece.variable];
          try {
            for (const item of list) {
              // Loops are where time goes: check the budget on each pass, as liquidjs does.
              if (budget !== undefined && budget.now() > budget.deadline) throw new Error(RENDER_LIMIT_MESSAGE);
              scope[piece.variable] = item;
              out += renderPieces(engine, piece.body, scope, budget);
            }
          } finally {
            if (had) scope[piece.variable] = saved;
            else delete scope[piece.variable];
          }
        } else {
          out += engine.renderSync([piece.template], scope, budgetOptions(budget)) as string;
        }
        break;
      }
      case 'lookup': {
        let v = lookup(scope, piece.path);
        const printable =
          v === null || v === undefined || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
        if (!printable) {
          out += engine.renderSync([piece.template], scope, budgetOptions(budget)) as string;
          break;
        }
        if (piece.fallback !== undefined && (v === undefined || v === null || v === false || v === ''))
          v = piece.fallback;
        const text = v === undefined || v === null ? '' : String(v);
        out += piece.escape ? escapeHtml(text) : text;
        break;
      }
    }
  }
  return out;
}

/** Renders a plan; same output as `engine.renderSync(templates, scope)`. With a budget, throws
 *  `template render limit exceeded` once it is spent (liquidjs pieces get only what is left). */
export function renderPlan(engine: Liquid, plan: FastPlan, scope: Scope, budget?: RenderBudget): string {
  return renderPieces(engine, plan.pieces, scope, budget);
}
