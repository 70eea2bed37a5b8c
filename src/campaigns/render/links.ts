/**
 * Finds the links of a compiled HTML template once per campaign and swaps each trackable href for a
 * Liquid placeholder (`{{ __sy_links[i] | raw }}`, per recipient `<tracking>/t/c/<message token>/i`),
 * or, when the href itself holds Liquid, wraps it in `{% sy_track_link i %}` so it is signed where it
 * renders (inside loops too). Rendering one recipient then only evaluates Liquid and signs tokens.
 * Start tags come from htmlparser2 (url-safety.ts startTags: comments, scripts and styles skipped,
 * Liquid inside quoted attributes kept intact); only attribute values are replaced, quotes kept. Never
 * tracked: mailto:/tel:/anchors and other schemes, links with `data-no-track`, and any href that uses
 * `unsubscribe_url` (the unsubscribe link must stay the signed unsubscribe URL). Every other URL
 * attribute (url-safety.ts URL_ATTRIBUTES) whose scheme Liquid can decide is wrapped in `{%
 * sy_safe_url %}`, so a URL data decides is http(s) or `#`, never `javascript:` or `data:`.
 */
import { decodeHTMLAttribute } from 'entities';
import { SAFE_URL_TAG, TRACK_TAG } from './liquid-engine.ts';
import { rewriteUrlAttributes, schemeDependsOnData } from './url-safety.ts';

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
const HAS_LIQUID = /\{\{|\{%/;
const HTTP_URL = /^https?:\/\//i;
const UNSUBSCRIBE_VAR = /\bunsubscribe_url\b/;

/** The slot for one href, or null when the link must be left exactly as written. */
function classifyHref(raw: string, attribs: Record<string, string>, index: number): LinkSlot | null {
  if ('data-no-track' in attribs) return null;
  if (UNSUBSCRIBE_VAR.test(raw)) return null;
  const trimmed = raw.trim();
  if (HAS_LIQUID.test(trimmed)) {
    // `mailto:{{ x }}`, `/p/{{ x }}`: the template fixed a scheme that is never tracked
    if (!schemeDependsOnData(trimmed) && !HTTP_URL.test(decodeHTMLAttribute(trimmed))) return null;
    return { index, hrefSource: trimmed };
  }
  const url = decodeHTMLAttribute(trimmed);
  return HTTP_URL.test(url) ? { index, url } : null;
}

export function rewriteLinks(html: string): RewrittenHtml {
  const links: LinkSlot[] = [];
  const rewritten = rewriteUrlAttributes(html, (tag) => {
    let sawHref = false;
    return (attr) => {
      let value: string | null = null;
      // The first href of a link is what a browser follows (later duplicates are ignored).
      if (attr.name === 'href' && !sawHref && (tag.name === 'a' || tag.name === 'area')) {
        const slot = classifyHref(attr.raw, tag.attribs, links.length);
        if (slot !== null) {
          links.push(slot);
          value =
            slot.hrefSource === undefined
              ? `{{ ${LINKS_VAR}[${slot.index}] | raw }}`
              : `{% ${TRACK_TAG} ${slot.index} %}${slot.hrefSource}{% end${TRACK_TAG} %}`;
        }
      }
      if (attr.name === 'href') sawHref = true;
      if (value === null && HAS_LIQUID.test(attr.raw) && schemeDependsOnData(attr.raw)) {
        value = `{% ${SAFE_URL_TAG} %}${attr.raw}{% end${SAFE_URL_TAG} %}`;
      }
      return value;
    };
  });
  return { html: rewritten, links };
}

/** The destination of static link `index`, or null when there is no such link or its href is
 *  rendered per recipient (then only a per-link token, which carries its URL, can point there). */
export function staticLinkUrl(links: readonly LinkSlot[], index: number): string | null {
  const slot = Number.isSafeInteger(index) && index >= 0 ? links[index] : undefined;
  return slot !== undefined && slot.index === index && slot.url !== undefined ? slot.url : null;
}
