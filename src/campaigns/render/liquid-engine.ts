/**
 * Builds the Liquid engines one compiled campaign uses. Owns the sandbox settings: no file system
 * (partials resolve against an empty in-memory map and include/render/layout are parse errors),
 * unknown filters are parse errors, only own properties of the scope are visible. Engines are
 * created per compile, never shared between campaigns (no module-level state).
 *
 * It also defines `{% sy_track_link N %}…{% endsy_track_link %}`, which link rewriting wraps around
 * an href that contains Liquid: the body renders in the current scope (so loop variables work),
 * then the URL is signed through the `__sy_track` function the renderer puts in the scope; and
 * `{% sy_safe_url %}…{% endsy_safe_url %}`, around any other URL attribute whose scheme can come
 * from data. Both pass the rendered URL through url-safety.ts: only allowed schemes survive.
 */
import { Liquid, Tag } from 'liquidjs';
import type { Context, Emitter, Template, TagToken, TopLevelToken } from 'liquidjs';
import { decodeHTMLAttribute, escapeAttribute } from 'entities';
import { isSafeAttributeUrl, NEUTRAL_URL, safeHref } from './url-safety.ts';

export interface Engines {
  /** HTML part: every `{{ }}` output is HTML-escaped unless piped through `| raw`. */
  html: Liquid;
  /** Subject and text part: outputs are written as they are. */
  text: Liquid;
  /** The resource limits the engines were built with (render-message.ts spends renderMs per message). */
  limits: Required<TemplateLimits>;
}

/** Resource guards, so no template (or contact data) can stall a worker or a preview request. */
export interface TemplateLimits {
  /** Wall time one recipient's whole message may take to render, in ms (all parts together).
   *  Real time on purpose: it guards the CPU, it is not business time. */
  renderMs: number;
  /** liquidjs memoryLimit per render call (range sizes, joins, string filters: roughly characters). */
  memory: number;
  /** Monotonic milliseconds for the renderMs budget; performance.now unless a test steps it. */
  now?: () => number;
}

/** 1 s: a real newsletter renders in well under a millisecond, so only a runaway template gets
 *  near it, while a worker stalled by GC or a busy machine does not fail good recipients. */
export const DEFAULT_TEMPLATE_LIMITS: Readonly<TemplateLimits> = { renderMs: 1000, memory: 10_000_000 };
/** Longest template source, in characters: far above any real email (Gmail clips at 102 kB). */
const PARSE_LIMIT = 4_000_000;

/** Limit errors look like this (liquidjs's Limiter, and fast-render.ts for its own loops). */
const LIMIT_MESSAGE = /^(memory alloc|template render|parse length) limit exceeded/;

/** Whether a render failure is a resource limit (liquidjs's limits, or a string/array/stack the
 *  runtime refused to grow), not a template or data error. Looks through liquidjs's wrapping. */
export function isLimitError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (e instanceof RangeError || LIMIT_MESSAGE.test(e.message)) return true;
    e = (e as { originalError?: unknown }).originalError ?? e.cause;
  }
  return false;
}

/** Scope key of the per-recipient signer: (url, linkIndex) → tracking URL. */
export const TRACK_FN_VAR = '__sy_track';
export const TRACK_TAG = 'sy_track_link';
export const SAFE_URL_TAG = 'sy_safe_url';
export type TrackFn = (url: string, linkIndex: number) => string;

/** Tags that would read other templates; a campaign template is one self-contained source. */
const FILE_TAGS = ['include', 'render', 'layout'] as const;
const HTTP_URL = /^https?:\/\//i;

/** The href a rendered `sy_track_link` body becomes (shared with fast-render.ts). */
export function trackHref(
  rendered: string,
  escapeHtml: boolean,
  track: TrackFn | undefined,
  linkIndex: number,
): string {
  const url = (escapeHtml ? decodeHTMLAttribute(rendered) : rendered).trim();
  if (!HTTP_URL.test(url)) return isSafeAttributeUrl(rendered, escapeHtml) ? rendered : NEUTRAL_URL;
  // Untracked (no signer in scope): written as rendered only when it cannot close its attribute.
  if (track === undefined) return isSafeAttributeUrl(rendered, escapeHtml) ? rendered : NEUTRAL_URL;
  const tracked = track(url, linkIndex);
  return escapeHtml ? escapeAttribute(tracked) : tracked;
}

/** The templates between a block tag and its `end<name>`, taken from `remaining`. */
function parseBlockBody(liquid: Liquid, remaining: TopLevelToken[], name: string): Template[] {
  const body: Template[] = [];
  let closed = false;
  const stream = liquid.parser
    .parseStream(remaining)
    .on('tag:end' + name, () => {
      closed = true;
      stream.stop();
    })
    .on('template', (tpl: Template) => {
      body.push(tpl);
    })
    .on('end', () => {
      if (!closed) throw new Error(`${name} not closed`);
    });
  stream.start();
  return body;
}

function registerTrackTag(engine: Liquid, escapeHtml: boolean): void {
  // A Tag class rather than an options object: liquidjs copies only parse and render from an
  // options object, and its static analysis (compile.ts: which contact fields a template reads)
  // needs `children` to see into the link's body.
  engine.registerTag(
    TRACK_TAG,
    class TrackLinkTag extends Tag {
      /** Read by fast-render.ts. */
      readonly linkIndex: number;
      readonly body: Template[] = [];

      constructor(token: TagToken, remaining: TopLevelToken[], liquid: Liquid) {
        super(token, remaining, liquid);
        const index = Number(token.args.trim());
        if (!Number.isSafeInteger(index) || index < 0) throw new Error(`${TRACK_TAG} needs a link index`);
        this.linkIndex = index;
        this.body.push(...parseBlockBody(liquid, remaining, TRACK_TAG));
      }

      // biome-ignore lint/correctness/useYield: liquidjs declares Tag.children as a generator
      *children(): Generator<unknown, Template[]> {
        return this.body;
      }

      *render(ctx: Context, emitter: Emitter): Generator<unknown, void, string> {
        const rendered = yield this.liquid.renderer.renderTemplates(this.body, ctx);
        const track = ctx.environments[TRACK_FN_VAR as keyof typeof ctx.environments] as TrackFn | undefined;
        emitter.write(trackHref(rendered, escapeHtml, track, this.linkIndex));
      }
    },
  );
}

/** `{% sy_safe_url %}…{% endsy_safe_url %}`: renders its body, then url-safety.ts's safeHref. */
function registerSafeUrlTag(engine: Liquid, escapeHtml: boolean): void {
  engine.registerTag(
    SAFE_URL_TAG,
    class SafeUrlTag extends Tag {
      /** Read by fast-render.ts. */
      readonly body: Template[] = [];

      constructor(token: TagToken, remaining: TopLevelToken[], liquid: Liquid) {
        super(token, remaining, liquid);
        this.body.push(...parseBlockBody(liquid, remaining, SAFE_URL_TAG));
      }

      // biome-ignore lint/correctness/useYield: liquidjs declares Tag.children as a generator
      *children(): Generator<unknown, Template[]> {
        return this.body;
      }

      *render(ctx: Context, emitter: Emitter): Generator<unknown, void, string> {
        const rendered = yield this.liquid.renderer.renderTemplates(this.body, ctx);
        emitter.write(safeHref(rendered, escapeHtml));
      }
    },
  );
}

function createEngine(escapeHtml: boolean, limits: TemplateLimits): Liquid {
  const engine = new Liquid({
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    // An empty in-memory map replaces the file system, so no template can read a file.
    templates: {},
    dynamicPartials: false,
    cache: false,
    // A template must not stall a send worker: bound source size, allocations and render time
    // (render-message.ts narrows renderLimit to what is left of the message's budget per call).
    parseLimit: PARSE_LIMIT,
    memoryLimit: limits.memory,
    renderLimit: limits.renderMs,
    ...(escapeHtml ? { outputEscape: 'escape' as const } : {}),
  });
  for (const name of FILE_TAGS) {
    engine.registerTag(name, {
      parse() {
        throw new Error(`{% ${name} %} is not allowed: campaign templates cannot load other files`);
      },
      *render() {
        /* never reached: parse always throws */
      },
    });
  }
  registerTrackTag(engine, escapeHtml);
  registerSafeUrlTag(engine, escapeHtml);
  return engine;
}

export function createEngines(limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS): Engines {
  const full: Required<TemplateLimits> = {
    renderMs: limits.renderMs,
    memory: limits.memory,
    now: limits.now ?? (() => performance.now()),
  };
  return { html: createEngine(true, full), text: createEngine(false, full), limits: full };
}
