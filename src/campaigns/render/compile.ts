/**
 * Compiles a campaign template ONCE: Liquid parsed, MJML turned into HTML with the Liquid kept,
 * trackable links swapped for placeholders, open pixel and legal footer placed, text part derived.
 * Rendering a recipient (render-message.ts) then only evaluates parsed Liquid and signs tokens.
 * Must not do I/O or read other files; every problem found is reported by validateTemplate and
 * makes compileTemplate throw TEMPLATE_INVALID naming all of them.
 */
import { compile as compileHtmlToText } from 'html-to-text';
import type { Liquid, Template } from 'liquidjs';
import { SwitchyardError } from '../../core/errors.ts';
import { createEngines, isLimitError } from './liquid-engine.ts';
import type { Engines, TemplateLimits } from './liquid-engine.ts';
import { rewriteLinks, LINKS_VAR } from './links.ts';
import type { LinkSlot } from './links.ts';
import { htmlFooter, textFooter } from './footer.ts';
import { budgetOptions, planTemplate, renderPlan } from './fast-render.ts';
import type { FastPlan } from './fast-render.ts';
import type { TokenCodec } from '../../core/tracking-token.ts';
import type { FooterNeeds } from './footer.ts';
import type { PreparedCampaign } from './campaign-types.ts';

export interface TemplateInput {
  /** Liquid. */
  subject: string;
  /** Liquid inside MJML (detected by an `<mjml>` root) or inside plain HTML. */
  html?: string;
  /** Liquid plain text; when absent the text part is derived from the HTML. */
  text?: string;
}

export interface CompileOptions {
  /** MJML validation: 'strict' (default) refuses invalid MJML, 'soft' compiles it anyway. */
  mjmlValidation?: 'strict' | 'soft';
  /** 'auto' (default): append the legal footer for what the template lacks. 'none': it must have it. */
  footer?: 'auto' | 'none';
  /** The campaign's sender postal address when known now; blank is an error (CAN-SPAM, CASL). */
  postalAddress?: string;
  /** Render time and memory limits (liquid-engine.ts DEFAULT_TEMPLATE_LIMITS when absent). */
  limits?: TemplateLimits;
}

export interface CompiledTemplate {
  readonly engines: Engines;
  readonly isMjml: boolean;
  readonly subject: Template[];
  /** The final HTML (links as placeholders, pixel and footer placed), or null for text-only. */
  readonly html: Template[] | null;
  readonly htmlSource: string | null;
  /** The text part template (given, or derived from the HTML at compile time). */
  readonly text: Template[] | null;
  /** Set when the text must be derived from each rendered HTML (the HTML injects raw markup). */
  readonly textFromHtml: ((html: string) => string) | null;
  /** True when the text part comes from the HTML (at compile time or per recipient). */
  readonly textIsDerived: boolean;
  /** True when the HTML prints something raw (`| raw`), so data can bring its own tags: each
   *  rendered HTML then goes through url-safety.ts neutraliseUnsafeUrls. */
  readonly printsRawMarkup: boolean;
  /** Trackable links by index; static ones become `/t/c/<message token>/<index>` in `__sy_links`,
   *  and the tracking endpoint resolves a clicked index back to `url` here. */
  readonly links: readonly LinkSlot[];
  readonly hasOpenPixel: boolean;
  /** Fast-path plans (fast-render.ts) for subject, html and text; null renders with liquidjs. */
  readonly plans: { subject: FastPlan | null; html: FastPlan | null; text: FastPlan | null };
  /** Token codecs by secret list, built on first use so each recipient does not rebuild keys. */
  readonly codecs: Map<string, TokenCodec>;
  /** The campaign strings, signers and link tags render-message.ts last prepared (one campaign
   *  renders with its template; another campaign replaces them). */
  readonly prepared: { current: PreparedCampaign | null };
  /** The `contact.<field>` names subject, html and text read (liquidjs static analysis), or null
   *  when a part reads the contact as a whole or by a computed key: then every field is needed. */
  readonly contactFields: ReadonlySet<string> | null;
}

/** See CompiledTemplate.contactFields. */
function contactFieldsOf(parts: readonly [Liquid, Template[] | null][]): ReadonlySet<string> | null {
  const fields = new Set<string>();
  for (const [engine, templates] of parts) {
    if (templates === null) continue;
    let segments: ReturnType<Liquid['globalVariableSegmentsSync']>;
    try {
      segments = engine.globalVariableSegmentsSync(templates);
    } catch {
      return null;
    }
    for (const path of segments) {
      if (path[0] !== 'contact') continue;
      if (path.length < 2 || typeof path[1] !== 'string') return null;
      fields.add(path[1]);
    }
  }
  return fields;
}

export interface ValidationResult {
  ok: boolean;
  errors: string[];
}

export const OPEN_VAR = '__sy_open';
const UNSUBSCRIBE_REF = /\{\{-?\s*unsubscribe_url\b/;
const ADDRESS_REF = /\{\{-?\s*(postal_address|campaign\.postalAddress)\b/;
const LIQUID_TOKEN = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;
const USER_RAW_OUTPUT = /\{\{[^}]*\|\s*raw\b[^}]*\}\}/g;
const MJML_ROOT = /<mjml[\s>]/i;

function lineOf(source: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}

function parseInto(
  engines: Engines,
  which: 'html' | 'text',
  source: string,
  label: string,
  errors: string[],
): Template[] | null {
  try {
    return engines[which].parse(source);
  } catch (err) {
    errors.push(`${label}: Liquid error: ${(err as Error).message}`);
    return null;
  }
}

/** MJML silently drops text between elements, so every Liquid token must survive compilation. */
function checkLiquidSurvived(source: string, html: string, errors: string[]): void {
  const remaining = new Map<string, number>();
  for (const t of html.match(LIQUID_TOKEN) ?? []) remaining.set(t, (remaining.get(t) ?? 0) + 1);
  for (const m of source.matchAll(LIQUID_TOKEN)) {
    const left = remaining.get(m[0]) ?? 0;
    if (left > 0) {
      remaining.set(m[0], left - 1);
      continue;
    }
    errors.push(
      `html: Liquid ${m[0]} at line ${lineOf(source, m.index ?? 0)} was dropped or changed by MJML `
        + '(put Liquid tags that sit between MJML elements inside <mj-raw>, and use single quotes inside attributes)',
    );
  }
}

// MJML is the heaviest module an idle server would load (tens of MB, most of a second): imported on
// the first MJML template instead, and kept.
let mjmlModule: Promise<typeof import('mjml')> | null = null;

async function compileMjml(source: string, level: 'strict' | 'soft', errors: string[]): Promise<string | null> {
  try {
    mjmlModule ??= import('mjml');
    const mjml2html = (await mjmlModule).default;
    const out = await mjml2html(source, { validationLevel: level, keepComments: false });
    return out.html;
  } catch (err) {
    const list = (err as { errors?: { line: number; message: string }[] }).errors;
    if (Array.isArray(list) && list.length > 0) {
      for (const e of list) errors.push(`mjml: line ${e.line}: ${e.message}`);
    } else {
      errors.push(`mjml: ${(err as Error).message}`);
    }
    return null;
  }
}

function insertBeforeBodyEnd(html: string, snippet: string): string {
  const at = html.toLowerCase().lastIndexOf('</body>');
  return at === -1 ? html + snippet : html.slice(0, at) + snippet + html.slice(at);
}

function footerNeeds(source: string, part: string, options: CompileOptions, errors: string[]): FooterNeeds {
  const needs = { unsubscribe: !UNSUBSCRIBE_REF.test(source), address: !ADDRESS_REF.test(source) };
  if ((options.footer ?? 'auto') === 'none') {
    if (needs.unsubscribe)
      errors.push(`${part}: missing required footer field: unsubscribe link ({{ unsubscribe_url }})`);
    if (needs.address)
      errors.push(`${part}: missing required footer field: sender postal address ({{ postal_address }})`);
    return { unsubscribe: false, address: false };
  }
  return needs;
}

const HTML_TO_TEXT_OPTIONS = {
  // No wrapping: a wrapped line could split a Liquid string literal in the derived text template.
  wordwrap: false as const,
  selectors: [
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'img', format: 'skip' },
    { selector: 'a', options: { hideLinkIfSameAsText: true } },
    { selector: 'table', format: 'block' },
  ],
};

interface Analysis {
  errors: string[];
  compiled: CompiledTemplate | null;
}

async function analyse(input: TemplateInput, options: CompileOptions): Promise<Analysis> {
  const errors: string[] = [];
  const engines = createEngines(options.limits);
  if (typeof input.subject !== 'string' || input.subject.trim() === '') errors.push('subject: is empty');
  const subject = parseInto(engines, 'text', input.subject ?? '', 'subject', errors);
  if (input.html === undefined && input.text === undefined) errors.push('template: needs an html or a text part');
  if (options.postalAddress !== undefined && options.postalAddress.trim() === '') {
    errors.push('campaign: missing required footer field: sender postal address is empty (CAN-SPAM, CASL)');
  }

  let htmlSource: string | null = null;
  let html: Template[] | null = null;
  let links: LinkSlot[] = [];
  const isMjml = input.html !== undefined && MJML_ROOT.test(input.html);
  if (input.html !== undefined) {
    // Parse the source first so Liquid errors carry the author's line numbers, not MJML's output's.
    const sourceOk = parseInto(engines, 'html', input.html, 'html', errors) !== null;
    let body: string | null = input.html;
    if (isMjml) {
      body = await compileMjml(input.html, options.mjmlValidation ?? 'strict', errors);
      if (body !== null && sourceOk) checkLiquidSurvived(input.html, body, errors);
    }
    if (body !== null) {
      const needs = footerNeeds(input.html, 'html', options, errors);
      const rewritten = rewriteLinks(body);
      links = rewritten.links;
      const pixel =
        `<img src="{{ ${OPEN_VAR} | raw }}" width="1" height="1" alt="" `
        + `style="display:block;border:0;width:1px;height:1px;">`;
      htmlSource = insertBeforeBodyEnd(rewritten.html, htmlFooter(needs) + pixel);
      html = sourceOk ? parseInto(engines, 'html', htmlSource, 'html (compiled)', errors) : null;
    }
  }

  const printsRawMarkup =
    htmlSource !== null
    && (htmlSource.match(USER_RAW_OUTPUT) ?? []).some((t) => !t.includes(LINKS_VAR) && !t.includes(OPEN_VAR));
  let text: Template[] | null = null;
  let textSource = '';
  let textFromHtml: ((h: string) => string) | null = null;
  if (input.text !== undefined) {
    const needs = footerNeeds(input.text, 'text', options, errors);
    textSource = input.text + textFooter(needs);
    text = parseInto(engines, 'text', textSource, 'text', errors);
  } else if (htmlSource !== null) {
    const toText = compileHtmlToText(HTML_TO_TEXT_OPTIONS);
    const userRaw = printsRawMarkup;
    // Deriving once keeps html-to-text off the per-recipient path; raw markup injected per
    // recipient could only be seen by converting each rendered HTML, so fall back to that.
    textSource = userRaw ? '' : toText(htmlSource);
    const derived = userRaw ? null : parseInto(engines, 'text', textSource, 'text (derived)', []);
    if (derived === null) textFromHtml = toText;
    text = derived;
  }

  if (errors.length > 0 || subject === null) return { errors, compiled: null };
  return {
    errors,
    compiled: {
      engines,
      isMjml,
      subject,
      html,
      htmlSource,
      text,
      textFromHtml,
      links,
      textIsDerived: input.text === undefined,
      printsRawMarkup,
      codecs: new Map(),
      prepared: { current: null },
      // per-recipient text (textFromHtml) reads what the html reads
      contactFields: contactFieldsOf([
        [engines.text, subject],
        [engines.html, html],
        [engines.text, text],
      ]),
      plans: {
        subject: planTemplate(engines.text, subject, input.subject, false),
        html: html === null || htmlSource === null ? null : planTemplate(engines.html, html, htmlSource, true),
        text: text === null ? null : planTemplate(engines.text, text, textSource, false),
      },
      hasOpenPixel: html !== null,
    },
  };
}

/** A template whose own loops exceed the limits fails for every recipient: a trial render with
 *  no recipient data finds that before a blast starts. Other render errors depend on the data. */
function trialRender(compiled: CompiledTemplate, errors: string[]): void {
  const { engines, plans } = compiled;
  const budget = { deadline: engines.limits.now() + engines.limits.renderMs, now: engines.limits.now };
  const parts = [
    ['subject', engines.text, compiled.subject, plans.subject],
    ['html', engines.html, compiled.html, plans.html],
    ['text', engines.text, compiled.text, plans.text],
  ] as const;
  for (const [part, engine, templates, plan] of parts) {
    if (templates === null) continue;
    try {
      if (plan === null) engine.renderSync(templates, {}, budgetOptions(budget));
      else renderPlan(engine, plan, {}, budget);
    } catch (err) {
      if (!isLimitError(err)) continue;
      errors.push(
        `${part}: exceeds the template limits (render time ${engines.limits.renderMs} ms, memory `
          + `${engines.limits.memory}): ${(err as Error).message}`,
      );
      return;
    }
  }
}

/** Every problem with the template, without throwing. */
export async function validateTemplate(input: TemplateInput, options: CompileOptions = {}): Promise<ValidationResult> {
  const { errors, compiled } = await analyse(input, options);
  if (compiled !== null) trialRender(compiled, errors);
  return { ok: errors.length === 0, errors };
}

/** Compiles once per campaign; throws TEMPLATE_INVALID listing every problem found. */
export async function compileTemplate(input: TemplateInput, options: CompileOptions = {}): Promise<CompiledTemplate> {
  const { errors, compiled } = await analyse(input, options);
  if (compiled === null) {
    throw new SwitchyardError('TEMPLATE_INVALID', `template is invalid: ${errors.join('; ')}`, { details: { errors } });
  }
  return compiled;
}
