/**
 * Reply trimming: turns an inbound reply body into just what the person wrote, without quoted
 * history, forwarded or quoted header blocks, or signature. HTML is converted with html-to-text,
 * with the quote containers mail clients mark up (Gmail, Apple Mail, Outlook, Thunderbird, Yahoo)
 * turned into marker lines; the text is then cut line by line (markers.ts says what a line is).
 *
 * When in doubt it keeps text: answers written between quoted lines keep the quotes around them,
 * a forward with nothing written above it is kept whole, and a signature delimiter only cuts a
 * short block. Pure: strings in, strings out.
 */
import { convert } from 'html-to-text';
import {
  attributionStrength,
  isClientSignature,
  isContactLine,
  isForwardSeparator,
  isFromHeader,
  isHeaderLine,
  isOriginalSeparator,
  isValediction,
  RULE_LINE,
  SIGNATURE_DELIMITER,
} from './markers.ts';

/** Marker line for "a quote with its attribution starts here" (Gmail, Thunderbird containers). */
const QUOTE_MARK = '\uE000';
/** Marker line for "everything below is the previous message" (Outlook, Yahoo containers). */
const CUT_MARK = '\uE001';
const MARKS = /[\uE000\uE001]/g;
const HAS_MARK = /[\uE000\uE001]/;

/** A signature block longer than this after "-- " is more likely text than a signature. */
const MAX_SIGNATURE_LINES = 15;

type Splitter = { kind: 'quote' | 'cut' | 'forward' | 'own-headers'; start: number; end: number };

const SINGLE = { leadingLineBreaks: 1, trailingLineBreaks: 1 };

/** HTML → plain text; quote containers become marker lines that trimReplyText understands. */
export function htmlToMarkedText(html: string): string {
  const marker =
    (mark: string, walkChildren: boolean) =>
    (
      elem: { children?: unknown[] },
      walk: (nodes: unknown[], builder: unknown) => void,
      builder: {
        openBlock(o: object): void;
        addLiteral(s: string): void;
        closeBlock(o: object): void;
      },
    ) => {
      builder.openBlock({ leadingLineBreaks: 1 });
      builder.addLiteral(mark);
      builder.closeBlock({ trailingLineBreaks: 1 });
      if (walkChildren && elem.children) walk(elem.children, builder);
    };
  return convert(html, {
    wordwrap: false,
    formatters: {
      quoteMarkThenContent: marker(QUOTE_MARK, true) as never,
      quoteMarkOnly: marker(QUOTE_MARK, false) as never,
      cutMark: marker(CUT_MARK, false) as never,
    },
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'head', format: 'skip' },
      { selector: 'title', format: 'skip' },
      { selector: 'hr', format: 'skip' },
      // Keep the words as written: no upper-cased headings, no cells run together.
      ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((h) => ({ selector: h, options: { uppercase: false } })),
      { selector: 'table', format: 'block', options: SINGLE },
      { selector: 'tr', format: 'block', options: SINGLE },
      { selector: 'td', format: 'block', options: SINGLE },
      { selector: 'th', format: 'block', options: SINGLE },
      // Outlook writes one <p class=MsoNormal> per line, not per paragraph.
      { selector: 'p.MsoNormal', format: 'block', options: SINGLE },
      // Gmail: div.gmail_quote holds the attribution (div.gmail_attr) and the quote; inline
      // answers can sit inside it, so its content is kept and judged as text.
      { selector: 'div.gmail_quote', format: 'quoteMarkThenContent' },
      { selector: 'div.gmail_quote_container', format: 'quoteMarkThenContent' },
      { selector: 'div.moz-cite-prefix', format: 'quoteMarkOnly' },
      { selector: 'div.protonmail_quote', format: 'quoteMarkThenContent' },
      { selector: 'div[name=messageReplySection]', format: 'quoteMarkThenContent' },
      // Outlook (desktop, web, mobile) and Yahoo: the previous message follows these, unquoted.
      { selector: 'div#divRplyFwdMsg', format: 'cutMark' },
      { selector: 'div#x_divRplyFwdMsg', format: 'cutMark' },
      { selector: 'div#appendonsend', format: 'cutMark' },
      { selector: 'div#x_appendonsend', format: 'cutMark' },
      { selector: 'div.OutlookMessageHeader', format: 'cutMark' },
      { selector: 'div.yahoo_quoted', format: 'cutMark' },
      { selector: 'hr#stopSpelling', format: 'cutMark' },
      { selector: 'hr#zwchr', format: 'cutMark' },
      { selector: 'span#OLK_SRC_BODY_SECTION', format: 'cutMark' },
      { selector: 'div#ymail_android_signature', format: 'skip' },
      { selector: 'div.ms-outlook-mobile-signature', format: 'skip' },
      { selector: 'div#ms-outlook-mobile-signature', format: 'skip' },
    ],
  });
}

/** HTML → plain text, without the quoted history mail clients mark up. */
export function htmlToReplyText(html: string): string {
  const text = htmlToMarkedText(html);
  const cut = text.search(MARKS);
  return (cut === -1 ? text : text.slice(0, cut)).trim();
}

const isQuote = (line: string) => /^\s*>/.test(line);
const isEmpty = (line: string) => line.trim() === '';

/** The next index at or after i whose line is not empty (lines.length when none). */
function nextNonEmpty(lines: readonly string[], i: number): number {
  let j = i;
  while (j < lines.length && isEmpty(lines[j] ?? '')) j += 1;
  return j;
}

/** Does a block of mail headers (From: and two more, or From: with an address and one more) start at line i? */
function headerBlockAt(lines: readonly string[], i: number): boolean {
  const first = lines[i] ?? '';
  if (!isHeaderLine(first)) return false;
  let headers = 0;
  let from = false;
  let fromHasAddress = false;
  let blanks = 0;
  for (let j = i; j < lines.length && j < i + 12; j += 1) {
    const line = lines[j] ?? '';
    if (isEmpty(line)) {
      // HTML conversions can put a blank line between the header lines.
      blanks += 1;
      if (blanks > 1) break;
      continue;
    }
    if (isHeaderLine(line)) {
      headers += 1;
      if (isFromHeader(line)) {
        from = true;
        fromHasAddress = /@|\[mailto:/.test(line);
      }
      blanks = 0;
    } else if (blanks > 0) {
      break;
    }
    if (from && (headers >= 3 || (headers >= 2 && fromHasAddress))) return true;
  }
  return false;
}

/** An attribution that starts at line i, possibly wrapped over up to three lines. */
function attributionAt(lines: readonly string[], i: number): Splitter | null {
  let joined = '';
  for (let k = 0; k < 3 && i + k < lines.length; k += 1) {
    const line = lines[i + k] ?? '';
    if (isEmpty(line) || HAS_MARK.test(line)) return null;
    if (k > 0) {
      // A wrapped attribution continues a line that does not end a sentence; a line that is an
      // attribution on its own starts its own splitter, so the text above it stays.
      if (isQuote(line) || /[.!?]$/.test(joined) || attributionStrength(line.trim()) === 'strong') return null;
      if (!/\d|[<,(]$/.test(lines[i] ?? '')) return null;
    }
    joined = k === 0 ? line.trim() : `${joined} ${line.trim()}`;
    const strength = attributionStrength(joined);
    if (strength === null) continue;
    const end = i + k + 1;
    const after = nextNonEmpty(lines, end);
    // Looser shapes count only with a quote, or nothing at all, below them.
    if (strength === 'weak' && after < lines.length && !isQuote(lines[after] ?? '')) return null;
    return { kind: 'quote', start: i, end };
  }
  return null;
}

/** The first line (outside quotes) where the previous message starts. */
function firstSplitter(lines: readonly string[]): Splitter | null {
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (isEmpty(line) || isQuote(line)) continue;
    const trimmed = line.trim();
    if (trimmed === QUOTE_MARK) {
      const next = nextNonEmpty(lines, i + 1);
      if (next < lines.length && isForwardSeparator(lines[next] ?? '')) {
        return { kind: 'forward', start: i, end: next + 1 };
      }
      return { kind: 'quote', start: i, end: i + 1 };
    }
    if (trimmed === CUT_MARK || isOriginalSeparator(line)) return { kind: 'cut', start: i, end: i + 1 };
    if (isForwardSeparator(line)) return { kind: 'forward', start: i, end: i + 1 };
    if (RULE_LINE.test(line)) {
      const next = nextNonEmpty(lines, i + 1);
      if (headerBlockAt(lines, next)) return { kind: 'cut', start: i, end: next };
    }
    if (headerBlockAt(lines, i)) {
      // Header lines above anything written are this message's own (a pasted or exported mail).
      if (!lines.slice(0, i).some(isWritten)) {
        let end = i;
        while (end < lines.length && !isEmpty(lines[end] ?? '')) end += 1;
        return { kind: 'own-headers', start: i, end };
      }
      return { kind: 'cut', start: i, end: i + 1 };
    }
    const attribution = attributionAt(lines, i);
    if (attribution) return attribution;
  }
  return null;
}

/** Is this line something the person wrote (not quote, marker, signature or separator)? */
function isWritten(line: string): boolean {
  if (isEmpty(line) || isQuote(line) || SIGNATURE_DELIMITER.test(line) || RULE_LINE.test(line)) return false;
  if (isClientSignature(line)) return false;
  return line.replace(MARKS, '').trim() !== '';
}

/**
 * Answers written between quoted lines below an attribution: returns the index where the
 * interleaved part ends (the next splitter or the end), or null if the quote is not interleaved.
 */
function interleavedEnd(lines: readonly string[], from: number): number | null {
  let sawQuote = false;
  let sawAnswer = false;
  let i = from;
  for (; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (isEmpty(line)) continue;
    if (isQuote(line)) {
      sawQuote = true;
      continue;
    }
    // A signature, or a list footer under a rule of underscores, ends the part where answers can be.
    if (SIGNATURE_DELIMITER.test(line) || /^\s*_{8,}\s*$/.test(line)) break;
    if (line.trim() === CUT_MARK || isOriginalSeparator(line) || isForwardSeparator(line)) break;
    if (headerBlockAt(lines, i)) break;
    if (!sawQuote) {
      // Before the first quoted line only attribution lines and markers may appear.
      if (line.trim() === QUOTE_MARK || attributionStrength(line.trim()) !== null) continue;
      return null;
    }
    if (isWritten(line) && attributionStrength(line.trim()) === null) sawAnswer = true;
  }
  return sawQuote && sawAnswer ? i : null;
}

/** A rule of underscores with a short block below it is a signature or a mailing-list footer. */
function cutFooter(lines: string[]): string[] {
  const firstText = lines.findIndex(isWritten);
  for (let i = lines.length - 1; i > firstText; i -= 1) {
    if (!/^\s*_{2,}\s*$/.test(lines[i] ?? '')) continue;
    const rest = lines.slice(i + 1).filter((l) => !isEmpty(l) && !isQuote(l));
    if (rest.length <= MAX_SIGNATURE_LINES) return lines.slice(0, i);
  }
  return lines;
}

/**
 * A closing line followed by a name and contact details ("Kind regards / Bob Miller / Head of
 * Operations | Contoso") is a signature block; a closing with just a name is part of the reply.
 */
function cutSignatureBlock(lines: string[]): string[] {
  const written = lines.map((l, i) => [l, i] as const).filter(([l]) => isWritten(l));
  for (let w = Math.max(1, written.length - 10); w < written.length; w += 1) {
    const [line, index] = written[w] ?? ['', 0];
    if (!isValediction(line)) continue;
    const after = written.slice(w + 1).map(([l]) => l);
    if (after.length < 2 || after.length > 8) continue;
    if (after.slice(1).some(isContactLine)) return lines.slice(0, index);
  }
  return lines;
}

/** Cuts a "-- " signature block, drops client lines ("Sent from my iPhone") and trailing quotes. */
function cleanRegion(region: readonly string[]): string[] {
  let lines = [...region];
  const firstText = lines.findIndex(isWritten);
  if (firstText === -1) return [];
  for (let i = 0; i < lines.length; i += 1) {
    if (!SIGNATURE_DELIMITER.test(lines[i] ?? '')) continue;
    const rest = lines.slice(i + 1).filter((l) => !isEmpty(l) && !isQuote(l));
    if (rest.length <= MAX_SIGNATURE_LINES) lines = lines.slice(0, i);
    break;
  }
  lines = cutFooter(lines);
  lines = lines.filter((l) => !isClientSignature(l));
  lines = cutSignatureBlock(lines);
  let end = lines.length;
  while (end > 0 && !isWritten(lines[end - 1] ?? '')) end -= 1;
  // An attribution left at the end (its quote was cut) goes too.
  while (end > 0 && attributionStrength((lines[end - 1] ?? '').trim()) !== null) {
    end -= 1;
    while (end > 0 && !isWritten(lines[end - 1] ?? '')) end -= 1;
  }
  return lines.slice(0, end);
}

function finish(lines: readonly string[]): string {
  return lines
    .join('\n')
    .replace(MARKS, '')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function normalise(text: string): string[] {
  return (
    text
      .replace(/\r\n?/g, '\n')
      .replace(/[\u00a0\u2007\u202f]/g, ' ')
      .replace(/[\u200b\u200c\ufeff]/g, '')
      // HTML mail converted by the sending client sometimes leaves this entity in the text part.
      .replace(/&nbsp;/g, ' ')
      .split('\n')
      .map((l) => l.replace(/[ \t]+$/, ''))
  );
}

/** Text that may contain HTML-conversion markers → the reply. */
function trimMarkedText(text: string): string {
  return trimLines(normalise(text));
}

function trimLines(lines: readonly string[]): string {
  const splitter = firstSplitter(lines);
  if (splitter === null) return finish(cleanRegion(lines));
  if (splitter.kind === 'own-headers') return trimLines(lines.slice(splitter.end));
  const above = lines.slice(0, splitter.start);
  const wroteAbove = above.some(isWritten);
  if (splitter.kind === 'forward') {
    // A forward with nothing written above it is the message itself.
    return wroteAbove ? finish(cleanRegion(above)) : finish(cleanRegion(lines));
  }
  if (splitter.kind === 'quote') {
    const end = interleavedEnd(lines, splitter.end);
    if (end !== null) return finish(cleanRegion(lines.slice(0, end)));
  }
  return finish(cleanRegion(above));
}

/** Removes quoted text, quoted headers and signatures from a plain-text reply. */
export function trimReplyText(text: string): string {
  return trimMarkedText(text.replace(MARKS, ''));
}

/** Trims a reply given its text and/or HTML part: the text part wins, HTML is the fallback. */
export function trimReplyBody(body: { text?: string | null; html?: string | null }): string {
  const text = body.text ?? '';
  if (text.trim() !== '') return trimReplyText(text);
  const html = body.html ?? '';
  return html.trim() === '' ? '' : trimMarkedText(htmlToMarkedText(html.replace(MARKS, '')));
}

const HTML_START = new RegExp(
  '^\\s*(?:<\\?xml[^>]*>\\s*)?(?:<!--[\\s\\S]*?-->\\s*)*'
    + '<(?:!doctype html|(?:html|head|body|div|p|table|meta|style|span|font|blockquote|center|br|section|title)'
    + '[\\s/>])',
  'i',
);

/** Heuristic for CLI input whose type is unknown: does this look like HTML? */
export function looksLikeHtml(text: string): boolean {
  return HTML_START.test(text);
}
