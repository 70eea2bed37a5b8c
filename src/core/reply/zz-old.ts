/**
 * Reply trimming: turns an inbound reply body into just what the person wrote, without quoted
 * history or signature. Wraps maintained libraries instead of hand-written heuristics:
 * html-to-text for HTML bodies (dropping Gmail/Apple quote containers first) and
 * email-reply-parser (Crisp; ~10 locales) for quote headers such as "On … wrote:", Outlook's
 * "From:/Sent:" block and "Sent from my iPhone". Pure: strings in, strings out.
 */
import EmailReplyParser from 'email-reply-parser';
import { convert } from 'html-to-text';

/** HTML → plain text, without the quoted history containers mail clients mark up. */
export function htmlToReplyText(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'head', format: 'skip' },
      // Gmail wraps the quoted thread in div.gmail_quote; Apple Mail and Thunderbird use cite blockquotes.
      { selector: 'div.gmail_quote', format: 'skip' },
      { selector: 'blockquote[type=cite]', format: 'skip' },
      { selector: 'div#appendonsend', format: 'skip' },
      // Outlook desktop/web start the quoted message with this marker div; everything after it is
      // handled by email-reply-parser's "From: … Sent:" rule.
    ],
  });
}

/** Removes quoted text and signatures from a plain-text reply. */
export function trimReplyText(text: string): string {
  const normalised = text.replace(/\r\n?/g, '\n').replace(/\u00a0/g, ' ');
  const visible = new EmailReplyParser().read(normalised).getVisibleText();
  return visible
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Trims a reply given its text and/or HTML part: the text part wins, HTML is the fallback. */
export function trimReplyBody(body: { text?: string | null; html?: string | null }): string {
  const text = body.text ?? '';
  if (text.trim() !== '') return trimReplyText(text);
  const html = body.html ?? '';
  return html.trim() === '' ? '' : trimReplyText(htmlToReplyText(html));
}

/** Heuristic for CLI input whose type is unknown: does this look like HTML? */
export function looksLikeHtml(text: string): boolean {
  return /^\s*(<!doctype html|<html[\s>]|<body[\s>]|<div[\s>]|<p[\s>]|<table[\s>])/i.test(text);
}
