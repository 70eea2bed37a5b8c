/**
 * Which URLs a rendered message may carry where the URL came from data (docs/rendering.md, link
 * policy): a URL attribute whose value Liquid decides must come out as an http(s) URL; in markup a
 * template prints raw, where the author's own links cannot be told from data's, every URL
 * attribute must be http(s), mailto:, tel: or scheme-less. Anything else (`javascript:`, `data:`,
 * `vbscript:`, `file:`, …) becomes `#` and is never wrapped into a click redirect. Pure string
 * work, shared by the Liquid tag, the fast renderer and the raw-markup pass, so every path decides
 * the same way.
 */
import { Parser } from 'htmlparser2';
import { decodeHTMLAttribute } from 'entities';

/** What an unsafe URL is replaced with. */
export const NEUTRAL_URL = '#';

/** Attributes that browsers and mail clients load or follow as URLs. */
export const URL_ATTRIBUTES: ReadonlySet<string> = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'background',
  'poster',
  'xlink:href',
  'data',
  'cite',
  'longdesc',
]);

const SAFE_SCHEMES = new Set(['http', 'https', 'mailto', 'tel']);
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** Dropped before the scheme is read: browsers strip ASCII whitespace and controls around and
 *  tabs/newlines inside a URL; removing every control, space and invisible separator can only make
 *  more strings look like they have a scheme, so the check errs on the side of refusing. */
const IGNORED = /[\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028\u2029\u2060\ufeff]/g;

/** Whether `url` (as the browser reads it: entities already decoded) may stay in raw markup. */
export function isSafeUrl(url: string): boolean {
  const m = SCHEME.exec(url.replace(IGNORED, ''));
  return m === null || SAFE_SCHEMES.has((m[1] as string).toLowerCase());
}

const WEB_SCHEMES = new Set(['http', 'https']);

/** Whether `url` (entities already decoded), built from data, may be written: http(s) only. */
export function isSafeDataUrl(url: string): boolean {
  const m = SCHEME.exec(url.replace(IGNORED, ''));
  return m !== null && WEB_SCHEMES.has((m[1] as string).toLowerCase());
}

/** Quotes and angle brackets never appear unescaped in a URL; in attribute text they can only
 *  come from `| raw` output and would end the attribute (`x" onerror="…`). */
const BREAKS_ATTRIBUTE = /["'<>`]/;

/** Whether rendered attribute text may be written as it is (see safeHref). */
export function isSafeAttributeUrl(rendered: string, escaped: boolean): boolean {
  if (!escaped) return isSafeDataUrl(rendered);
  return !BREAKS_ATTRIBUTE.test(rendered) && isSafeDataUrl(decodeHTMLAttribute(rendered));
}

/** The rendered attribute value, or NEUTRAL_URL when it is not allowed. `escaped`: the value is
 *  HTML-escaped attribute text (the HTML part), so it is decoded once, as a browser would, and
 *  must not close its attribute. */
export function safeHref(rendered: string, escaped: boolean): string {
  return isSafeAttributeUrl(rendered, escaped) ? rendered : NEUTRAL_URL;
}

/**
 * Whether the scheme of an attribute value written as Liquid can depend on data: false when the
 * static text before the first Liquid token already fixes it (`https://x/{{ a }}`, `/p/{{ a }}`,
 * `#{{ a }}`) or the value starts with our own `{{ unsubscribe_url }}`, true otherwise.
 */
export function schemeDependsOnData(source: string): boolean {
  if (/^\{\{-?\s*unsubscribe_url\s*-?\}\}/.test(source.trim())) return false;
  const liquidAt = source.search(/\{\{|\{%/);
  const prefix = decodeHTMLAttribute(liquidAt === -1 ? source : source.slice(0, liquidAt)).replace(IGNORED, '');
  const scheme = SCHEME.exec(prefix);
  if (scheme !== null) return !SAFE_SCHEMES.has((scheme[1] as string).toLowerCase());
  // Anything but scheme characters (or a leading non-letter) rules out a scheme from here on.
  return prefix === '' || /^[A-Za-z][A-Za-z0-9+.-]*$/.test(prefix);
}

export interface AttributeSpan {
  /** Lower-cased name. */
  name: string;
  /** Offsets of the value (without quotes) in the tag's source. */
  start: number;
  end: number;
  /** Value as written (entities not decoded). */
  raw: string;
  quoted: boolean;
}

const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

/** The attributes of one start tag's source (`<name …>`), in order, duplicates included. */
export function attributeSpans(tagSource: string): AttributeSpan[] {
  const nameEnd = tagSource.search(/[\s/>]/);
  const spans: AttributeSpan[] = [];
  if (nameEnd === -1) return spans;
  ATTRIBUTE.lastIndex = nameEnd;
  for (let m = ATTRIBUTE.exec(tagSource); m !== null; m = ATTRIBUTE.exec(tagSource)) {
    const raw = m[2] ?? m[3] ?? m[4];
    if (raw === undefined) continue;
    const quoted = m[4] === undefined;
    const end = m.index + m[0].length - (quoted ? 1 : 0);
    spans.push({ name: (m[1] as string).toLowerCase(), start: end - raw.length, end, raw, quoted });
  }
  return spans;
}

export interface StartTag {
  name: string;
  start: number;
  end: number;
  attribs: Record<string, string>;
}

/** Every start tag of `html` with its source span (comments, scripts and styles skipped). */
export function startTags(html: string): StartTag[] {
  const tags: StartTag[] = [];
  const parser: Parser = new Parser(
    {
      onopentag(name, attribs) {
        tags.push({ name, start: parser.startIndex, end: parser.endIndex, attribs });
      },
    },
    { decodeEntities: true, lowerCaseAttributeNames: true },
  );
  parser.end(html);
  return tags;
}

/**
 * `html` with URL attribute values replaced where `forTag(tag)` (called once per start tag, so it
 * may keep per-tag state) returns a new value for the attribute; null keeps it. The value is put
 * in quotes when the source had none. Returns `html` itself when nothing changed.
 */
export function rewriteUrlAttributes(
  html: string,
  forTag: (tag: StartTag) => (attr: AttributeSpan) => string | null,
): string {
  let out = '';
  let cursor = 0;
  for (const tag of startTags(html)) {
    const source = html.slice(tag.start, tag.end + 1);
    const rewrite = forTag(tag);
    let rewritten = '';
    let at = 0;
    for (const attr of attributeSpans(source)) {
      if (!URL_ATTRIBUTES.has(attr.name)) continue;
      const value = rewrite(attr);
      if (value === null) continue;
      rewritten += source.slice(at, attr.start) + (attr.quoted ? value : `"${value}"`);
      at = attr.end;
    }
    if (at === 0) continue;
    out += html.slice(cursor, tag.start) + rewritten + source.slice(at);
    cursor = tag.end + 1;
  }
  return cursor === 0 ? html : out + html.slice(cursor);
}

/**
 * Rendered HTML with every unsafe URL attribute value replaced by NEUTRAL_URL. Run per recipient
 * only on templates that print markup raw (`| raw`), where data can bring its own tags.
 */
export function neutraliseUnsafeUrls(html: string): string {
  return rewriteUrlAttributes(html, () => (attr) => (isSafeUrl(decodeHTMLAttribute(attr.raw)) ? null : NEUTRAL_URL));
}
