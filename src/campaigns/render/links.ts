/**
 * Finds the links of a compiled HTML template once per campaign and swaps each trackable href for
 * a Liquid placeholder (`{{ __sy_links[i] | raw }}`, per recipient `<tracking>/t/c/<message token>/i`), or, when the href
 * itself holds Liquid, wraps it in `{% sy_track_link i %}` so it is signed where it renders (inside
 * loops too). Rendering one recipient then only evaluates Liquid and signs tokens. Uses htmlparser2 to find `<a>`/`<area>` tags (it skips comments, scripts and styles and
 * keeps Liquid inside quoted attributes intact); only the href attribute's text is replaced.
 * Never tracked: mailto:/tel:/anchors and other schemes, links with `data-no-track`, and any href
 * that uses `unsubscribe_url` (the unsubscribe link must stay the signed unsubscribe URL).
 */
import { Parser } from 'htmlparser2';
import { decodeHTMLAttribute } from 'entities';
import { TRACK_TAG } from './liquid-engine.ts';

export interface LinkSlot {
  index: number;
  /** Destination known at compile time (entities decoded), when the href has no Liquid. */
  url?: string;
  /** Liquid source of the href (HTML-escaped form) when it depends on the recipient. */
  hrefSource?: string;
}

export interface RewrittenHtml {
  html: string;
  links: LinkSlot[];
}

export const LINKS_VAR = '__sy_links';
const HREF_ATTR = /(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/i;
const HAS_LIQUID = /\{\{|\{%/;
const HTTP_URL = /^https?:\/\//i;
const UNSUBSCRIBE_VAR = /\bunsubscribe_url\b/;

interface TagSpan { start: number; end: number; attribs: Record<string, string> }

function findAnchorTags(html: string): TagSpan[] {
  const spans: TagSpan[] = [];
  const parser: Parser = new Parser({
    onopentag(name, attribs) {
      if (name === 'a' || name === 'area') spans.push({ start: parser.startIndex, end: parser.endIndex, attribs });
    },
  }, { decodeEntities: true, lowerCaseAttributeNames: true });
  parser.end(html);
  return spans;
}

/** The slot for one href, or null when the link must be left exactly as written. */
function classifyHref(raw: string, attribs: Record<string, string>, index: number): LinkSlot | null {
  if ('data-no-track' in attribs) return null;
  if (UNSUBSCRIBE_VAR.test(raw)) return null;
  const trimmed = raw.trim();
  if (HAS_LIQUID.test(trimmed)) return { index, hrefSource: trimmed };
  const url = decodeHTMLAttribute(trimmed);
  return HTTP_URL.test(url) ? { index, url } : null;
}

export function rewriteLinks(html: string): RewrittenHtml {
  const links: LinkSlot[] = [];
  let out = '';
  let cursor = 0;
  for (const tag of findAnchorTags(html)) {
    const source = html.slice(tag.start, tag.end + 1);
    const m = HREF_ATTR.exec(source);
    if (m === null) continue;
    const raw = m[2] ?? m[3] ?? m[4] ?? '';
    const slot = classifyHref(raw, tag.attribs, links.length);
    if (slot === null) continue;
    links.push(slot);
    const value = slot.hrefSource === undefined
      ? `{{ ${LINKS_VAR}[${slot.index}] | raw }}`
      : `{% ${TRACK_TAG} ${slot.index} %}${slot.hrefSource}{% end${TRACK_TAG} %}`;
    const replaced = `${m[1]}"${value}"`;
    out += html.slice(cursor, tag.start) + source.slice(0, m.index) + replaced + source.slice(m.index + m[0].length);
    cursor = tag.end + 1;
  }
  return { html: out + html.slice(cursor), links };
}

/** The destination of static link `index`, or null when there is no such link or its href is
 *  rendered per recipient (then only a per-link token, which carries its URL, can point there). */
export function staticLinkUrl(links: readonly LinkSlot[], index: number): string | null {
  const slot = Number.isSafeInteger(index) && index >= 0 ? links[index] : undefined;
  return slot !== undefined && slot.index === index && slot.url !== undefined ? slot.url : null;
}
